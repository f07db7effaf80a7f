/*
 * Session recordings as asciicast v2 (docs/sessions.md, "Recording"): the
 * agent's writer, and the check latchkeyd makes of an upload.
 *
 * A recording is a header line, a JSON object
 *	{"version":2,"width":C,"height":R,"timestamp":T,"env":{"TERM":"..."}}
 * then one event per line, a JSON array [t, code, data]: t the seconds
 * since the start (a number, never decreasing), code "o" (output: data
 * is what the terminal showed), "i" (input; latchkey records none), "r"
 * (resize: data is "CxR") or "m" (a marker: latchkey's says the
 * recording was truncated). Every line ends with "\n".
 *
 * The writer turns the shell's bytes into JSON strings: valid UTF-8 is
 * kept, a sequence split between two reads is joined, and a byte that is
 * not UTF-8 becomes U+FFFD (what a terminal shows for it). It writes
 * whole lines only, and never more than its limit: the event that would
 * pass it is not written, a marker event (LK_CAST_TRUNC_MARK...) is, and
 * nothing more after it. A write that fails stops it the same way.
 */
#ifndef LK_CAST_H
#define LK_CAST_H

#include <stddef.h>
#include <stdint.h>

#define LK_CAST_MAX_DEFAULT	(16 * 1024 * 1024)	/* bytes */
#define LK_CAST_MAX_MIN		(64 * 1024)
#define LK_CAST_MAX_MAX		(1024 * 1024 * 1024)
#define LK_CAST_DIM_MAX		10000	/* width or height in a check */
#define LK_CAST_CHUNK		4096	/* input bytes per "o" event */
#define LK_CAST_TRUNC_MARK	"latchkey: recording truncated"

struct lk_cast {
	int		 fd;		/* the caller's: not closed here */
	uint64_t	 size;		/* bytes written */
	uint64_t	 max;
	long long	 t0_ms;		/* the start, lk_now_ms's clock */
	double		 last_t;	/* the last event's time */
	int		 stopped;	/* at the limit, or a write failed */
	int		 truncated;	/* the marker was written (or due) */
	unsigned char	 carry[4];	/* a UTF-8 sequence split by a read */
	size_t		 ncarry;
	char		*line;		/* one event's line */
};

/*
 * Writes the header to fd. max: LK_CAST_MAX_MIN..LK_CAST_MAX_MAX bytes;
 * cols, rows: the terminal's first size; term: its TERM; timestamp: the
 * start, seconds since the epoch; now_ms: the start on lk_now_ms's clock.
 * 0, LK_ERR_RANGE, LK_ERR_ALLOC or LK_ERR_SYSTEM (the write: errno).
 */
int	lk_cast_open(struct lk_cast *c, int fd, uint64_t max, int cols,
	    int rows, const char *term, int64_t timestamp, long long now_ms);
/* n bytes of output (any bytes) as "o" events. */
void	lk_cast_output(struct lk_cast *c, long long now_ms, const void *p,
	    size_t n);
/* A resize: an "r" event "CxR". */
void	lk_cast_resize(struct lk_cast *c, long long now_ms, int cols,
	    int rows);
/* A sequence left split becomes U+FFFD; frees c's memory (not fd). */
void	lk_cast_close(struct lk_cast *c, long long now_ms);

/* What lk_cast_check found. */
struct lk_cast_info {
	int		width, height;
	uint64_t	events;
	uint64_t	output;		/* bytes of "o" data (as UTF-8) */
	int		truncated;	/* a marker LK_CAST_TRUNC_MARK... */
};

/*
 * Checks that p (n bytes, from outside: need not be NUL-terminated) is
 * an asciicast v2 recording as described above: no NUL, every line
 * (ending in "\n") valid JSON of its form, width and height
 * 1..LK_CAST_DIM_MAX, times finite, >= 0 and never decreasing, resizes
 * "CxR" within the same bounds. 0 with *info, or LK_ERR_INVALID_FORMAT
 * with why (a short text naming the line), or LK_ERR_ALLOC.
 */
int	lk_cast_check(const char *p, size_t n, struct lk_cast_info *info,
	    char *why, size_t whysize);

#endif
