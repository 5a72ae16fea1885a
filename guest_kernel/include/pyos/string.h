/* Freestanding string and memory functions (lib/string.c). */
#ifndef PYOS_STRING_H
#define PYOS_STRING_H

#include <stddef.h>

void *memset(void *dst, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strncpy_z(char *dst, const char *src, size_t size);  /* always NUL-terminates */
long strtol(const char *s, const char **end, int base);

#endif
