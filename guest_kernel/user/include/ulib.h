/*
 * What the Unix-like programs (sh, ls, cat, ...) share beyond pyos_user.h:
 * more string functions, the environment, error messages, a line reader and
 * a buffered writer (guest_kernel/user/lib/: str.c, env.c, errors.c, io.c).
 *
 * System-call wrappers return -errno on failure (there is no errno variable):
 * a program prints strerror(-r).
 */
#ifndef PYOS_ULIB_H
#define PYOS_ULIB_H

#include <pyos_user.h>

/* str.c */
char *strchr(const char *s, int c);
char *strrchr(const char *s, int c);
char *strstr(const char *haystack, const char *needle);
char *strcpy(char *dst, const char *src);
char *strcat(char *dst, const char *src);
char *strdup(const char *s);
char *strndup(const char *s, size_t n);
int atoi(const char *s);
/* A decimal number that is all of s, or -1 (for counts and pids). */
long parse_count(const char *s);
const char *path_base(const char *path);            /* "/a/b" -> "b" */
char *path_into_dir(const char *dir, const char *path);  /* ("d", "/a/b") -> "d/b", malloc'd */
int is_directory(const char *path);
static inline int isdigit(int c) { return c >= '0' && c <= '9'; }
static inline int isspace(int c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
static inline int isalpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static inline int isalnum(int c) { return isalpha(c) || isdigit(c); }

/* env.c: the environment, "NAME=value" strings; crt0 or the program sets environ. */
extern char **environ;
char *getenv(const char *name);
int setenv(const char *name, const char *value, int overwrite);   /* 0 or -ENOMEM */
int unsetenv(const char *name);

/* errors.c */
const char *strerror(int err);                 /* err > 0, as in -r of a failed call */
void warn_err(const char *prog, const char *what, int err);  /* "prog: what: message" on fd 2 */
int signal_number(const char *name);           /* "INT", "SIGINT" or "2" -> 2; -1 if unknown */
const char *signal_name(int sig);              /* 2 -> "INT"; NULL if unknown */
int isatty(int fd);

/* io.c: whole writes, a line reader and a buffered writer. */
long write_all(int fd, const void *buf, size_t len);  /* len, or -errno */
int putstr(int fd, const char *s);

struct reader {
    int fd;
    int eot_is_eof;         /* a console without a tty: ^D ends the input, CR a line */
    int eof;
    size_t pos, len;
    char buf[4096];
};
void reader_init(struct reader *r, int fd);
/* The next line without its '\n' into line (at most size-1 bytes; the rest of
 * a longer line is dropped). Returns its length, or -1 at end of input, or
 * -errno. The last line of a file needs no '\n'. */
long read_line(struct reader *r, char *line, size_t size);

struct writer {
    int fd;
    int error;              /* the first failure, -errno */
    size_t len;
    char buf[4096];
};
void writer_init(struct writer *w, int fd);
void writer_put(struct writer *w, const void *data, size_t len);
void writer_puts(struct writer *w, const char *s);
int writer_printf(struct writer *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int writer_flush(struct writer *w);     /* 0 or the first error */

#endif
