/*
 * paths.c: the data directory fixed at build time.  The Makefile compiles
 * this file twice: once with the source tree (for the binaries in build/,
 * so a checkout serves its bundled model, tools and agents with no
 * config) and once with $(PREFIX)/share/agentd (for `make install`).
 */
#include "daemon/paths.h"

#ifndef AGENTD_DATADIR
#error "AGENTD_DATADIR must be defined by the build"
#endif

const char dmn_datadir[] = AGENTD_DATADIR;
