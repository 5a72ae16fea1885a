/*
 * The environment: environ is a NULL-terminated array of "NAME=value"
 * strings. A program started with an environment gets it from the kernel
 * (execve's envp); setenv/unsetenv build a private, malloc'd copy the first
 * time they change it, so the kernel's strings are never written.
 */
#include <ulib.h>

/* crt0 sets environ from the stack execve built; a kernel whose programs
 * start without an environment leaves this empty one (weak: crt0's wins). */
static char *no_environment[] = {NULL};
char **environ __attribute__((weak)) = no_environment;
static int owned;     /* environ is our malloc'd array */
static size_t capacity;

/* The entry for name, or NULL. */
static char **find(const char *name, size_t len)
{
    for (char **e = environ; e && *e; e++)
        if (!strncmp(*e, name, len) && (*e)[len] == '=')
            return e;
    return NULL;
}

char *getenv(const char *name)
{
    char **e = find(name, strlen(name));
    return e ? *e + strlen(name) + 1 : NULL;
}

static size_t count(void)
{
    size_t n = 0;
    while (environ && environ[n])
        n++;
    return n;
}

/* Make environ ours with room for one more entry. */
static int grow(void)
{
    size_t n = count();
    if (owned && n + 1 < capacity)
        return 0;
    size_t want = (n + 1) * 2 + 8;
    char **copy = malloc(want * sizeof *copy);
    if (!copy)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        copy[i] = environ[i];
    copy[n] = NULL;
    if (owned)
        free(environ);
    environ = copy;
    owned = 1;
    capacity = want;
    return 0;
}

int setenv(const char *name, const char *value, int overwrite)
{
    size_t len = strlen(name);
    if (!len || strchr(name, '='))
        return -EINVAL;
    char **e = find(name, len);
    if (e && !overwrite)
        return 0;
    char *entry = malloc(len + strlen(value) + 2);
    if (!entry || grow() < 0) {
        free(entry);
        return -ENOMEM;
    }
    memcpy(entry, name, len);
    entry[len] = '=';
    strcpy(entry + len + 1, value);
    e = find(name, len);   /* again: grow() may have moved the array */
    if (e) {
        *e = entry;        /* the old string may be the kernel's: not freed */
    } else {
        size_t n = count();
        environ[n] = entry;
        environ[n + 1] = NULL;
    }
    return 0;
}

int unsetenv(const char *name)
{
    char **e = find(name, strlen(name));
    if (!e)
        return 0;
    if (grow() < 0)
        return -ENOMEM;
    e = find(name, strlen(name));
    do
        e[0] = e[1];
    while (*e++);
    return 0;
}
