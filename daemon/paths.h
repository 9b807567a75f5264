/*
 * paths.h: where the daemon finds its bundled data when the config names
 * none (DESIGN.md "Running from a checkout").
 */
#ifndef AGENTD_DAEMON_PATHS_H
#define AGENTD_DAEMON_PATHS_H

/* The data directory: the source tree for `make`, $(PREFIX)/share/agentd
 * for `make install`.  Never ends with '/'. */
extern const char dmn_datadir[];

/* The default plugin folder: $(OUT)/plugins of the build for `make`,
 * $(PREFIX)/lib/agentd/plugins for `make install`.  Never ends with '/'. */
extern const char dmn_plugindir[];

#endif /* AGENTD_DAEMON_PATHS_H */
