/* The kernel command line: space-separated name=value words. */
#include <pyos/bootinfo.h>
#include <pyos/kernel.h>
#include <pyos/string.h>

int cmdline_get(const char *name, char *buf, size_t size)
{
    const char *p = boot_info.cmdline;
    size_t name_len = strlen(name);
    while (*p) {
        while (*p == ' ')
            p++;
        const char *word = p;
        while (*p && *p != ' ')
            p++;
        if ((size_t)(p - word) > name_len && !strncmp(word, name, name_len) && word[name_len] == '=') {
            const char *value = word + name_len + 1;
            size_t n = (size_t)(p - value);
            if (n >= size)
                n = size - 1;
            for (size_t i = 0; i < n; i++)
                buf[i] = value[i];
            buf[n] = 0;
            return 1;
        }
    }
    return 0;
}
