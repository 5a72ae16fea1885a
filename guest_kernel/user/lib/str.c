/* String functions the kernel's shared lib/string.c does not have (ulib.h). */
#include <ulib.h>

char *strchr(const char *s, int c)
{
    for (;; s++) {
        if (*s == (char)c)
            return (char *)s;
        if (!*s)
            return NULL;
    }
}

char *strrchr(const char *s, int c)
{
    const char *found = NULL;
    for (;; s++) {
        if (*s == (char)c)
            found = s;
        if (!*s)
            return (char *)found;
    }
}

char *strstr(const char *haystack, const char *needle)
{
    size_t n = strlen(needle);
    for (; *haystack; haystack++)
        if (*haystack == *needle && !strncmp(haystack, needle, n))
            return (char *)haystack;
    return n ? NULL : (char *)haystack;
}

char *strcpy(char *dst, const char *src)
{
    memcpy(dst, src, strlen(src) + 1);
    return dst;
}

char *strcat(char *dst, const char *src)
{
    strcpy(dst + strlen(dst), src);
    return dst;
}

char *strndup(const char *s, size_t n)
{
    size_t len = 0;
    while (len < n && s[len])
        len++;
    char *copy = malloc(len + 1);
    if (copy) {
        memcpy(copy, s, len);
        copy[len] = 0;
    }
    return copy;
}

char *strdup(const char *s)
{
    return strndup(s, strlen(s));
}

int atoi(const char *s)
{
    return (int)strtol(s, NULL, 10);
}

long parse_count(const char *s)
{
    const char *end;
    if (!isdigit(*s))
        return -1;
    long n = strtol(s, &end, 10);
    return *end || n < 0 ? -1 : n;
}

const char *path_base(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash && slash[1] ? slash + 1 : path;
}

char *path_into_dir(const char *dir, const char *path)
{
    const char *base = path_base(path);
    size_t n = strlen(dir) + strlen(base) + 2;
    char *out = malloc(n);
    if (out)
        snprintf(out, n, "%s%s%s", dir, dir[0] && dir[strlen(dir) - 1] == '/' ? "" : "/", base);
    return out;
}

int is_directory(const char *path)
{
    struct pyos_stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.mode);
}
