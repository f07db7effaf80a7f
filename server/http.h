/*
 * latchkeyd's HTTP side (docs/threading.md): one event loop for every
 * connection, a fixed pool of worker threads for the handlers.
 */
#ifndef LK_HTTP_H
#define LK_HTTP_H

#include <stddef.h>

/*
 * Starts serving on "ADDR:PORT" ("[v6]:PORT"); TLS when cert and key;
 * io_threads event loops hold the connections (each its share), workers
 * threads run the handlers. Limits are in conn_conf (conn.h).
 */
int	http_start(const char *listen, const char *cert, const char *key,
	    size_t workers, size_t io_threads);
void	http_stop(void);
/* 1 if listen names a loopback address, 0 if not, -1 if malformed. */
int	http_listen_is_loopback(const char *listen);
/*
 * A listening socket bound to "ADDR:PORT" (non-blocking, close-on-exec),
 * or -1 with the reason logged ("cannot listen on ADDR:PORT: address
 * already in use").
 */
int	http_bind_addr(const char *listen);
/* 1 while the API listener serves. */
int	http_serving(void);

#endif
