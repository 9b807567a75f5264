/*
 * protocol.h: the wire contract between agentd and its clients, shared by
 * the daemon and agentctl and mirrored by docs/protocol.md.
 *
 * Framing: one JSON-RPC 2.0 message (an object, or a batch array) per
 * line, UTF-8, terminated by '\n' (a '\r' before it is ignored).  Method
 * names are "noun.verb".  Errors carry the JSON-RPC 2.0 codes below, or an
 * application code from -32000 down, always with a "data" object that
 * says what to fix.
 */
#ifndef AGENTD_DAEMON_PROTOCOL_H
#define AGENTD_DAEMON_PROTOCOL_H

#define DMN_JSONRPC_VERSION "2.0"

/* JSON-RPC 2.0 standard errors. */
#define DMN_ERR_PARSE            -32700 /* the line is not valid JSON/UTF-8 */
#define DMN_ERR_INVALID_REQUEST  -32600 /* not a valid request object */
#define DMN_ERR_METHOD_NOT_FOUND -32601 /* no such method */
#define DMN_ERR_INVALID_PARAMS   -32602 /* params fail the method's check */
#define DMN_ERR_INTERNAL         -32603 /* the daemon failed; see the log */

/* Application errors. */
#define DMN_ERR_LIMIT        -32000 /* size, nesting, batch, connections */
#define DMN_ERR_UNKNOWN_RUN  -32001 /* unknown run or trace id */
#define DMN_ERR_OVERLOADED   -32002 /* too many runs in flight */
#define DMN_ERR_MODEL        -32003 /* model unavailable */
#define DMN_ERR_TOOL_FAILED  -32004 /* a tool call failed */
#define DMN_ERR_CANCELLED    -32005 /* the run was cancelled */
#define DMN_ERR_TIMEOUT      -32006 /* the run timed out */
#define DMN_ERR_UNKNOWN_NAME -32007 /* unknown agent or tool */
#define DMN_ERR_TOOL_ARGS    -32008 /* tool arguments fail the schema */
#define DMN_ERR_DENIED       -32009 /* the peer is not in the allow lists */

/* Default limits; each is a directive in agentd.conf(5). */
#define DMN_DEFAULT_MAX_MESSAGE     (1024 * 1024) /* bytes a line */
#define DMN_DEFAULT_MAX_DEPTH       64            /* JSON nesting */
#define DMN_DEFAULT_MAX_BATCH       128           /* batch items */
#define DMN_DEFAULT_MAX_CONNECTIONS 256
#define DMN_DEFAULT_IDLE_TIMEOUT_MS 300000            /* 5 minutes */
#define DMN_DEFAULT_MAX_OUTPUT      (4 * 1024 * 1024) /* bytes queued */

/* The socket's name inside the runtime folders DESIGN.md lists. */
#define DMN_SOCKET_NAME "agentd.sock"

#endif /* AGENTD_DAEMON_PROTOCOL_H */
