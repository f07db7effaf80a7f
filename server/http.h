#ifndef LK_HTTP_H
#define LK_HTTP_H

/* Starts serving on "ADDR:PORT" ("[v6]:PORT"); TLS when cert and key. */
int	http_start(const char *listen, const char *cert, const char *key);
void	http_stop(void);

#endif
