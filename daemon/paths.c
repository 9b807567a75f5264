/*
 * paths.c: the data directory fixed at build time.  The Makefile compiles
 * this file twice: once with the source tree (for the binaries in build/,
 * so a checkout serves its bundled model, tools and agents with no
 * config) and once with $(PREFIX)/share/agentd (for `make install`).
 * Compiled plugins are not data: in a checkout they are the ones the
 * build put in $(OUT)/plugins, once installed $(PREFIX)/lib/agentd/plugins.
 */
#include "daemon/paths.h"

#if !defined(AGENTD_DATADIR) || !defined(AGENTD_PLUGINDIR)
#error "AGENTD_DATADIR and AGENTD_PLUGINDIR must be defined by the build"
#endif

const char dmn_datadir[] = AGENTD_DATADIR;
const char dmn_plugindir[] = AGENTD_PLUGINDIR;
