/* The kernel command line: space-separated name=value words. */
#include <pyos/bootinfo.h>
#include <pyos/kernel.h>
#include <pyos/string.h>

/* The next kernel word at *p (advancing *p past it), with its length in
 * *len; NULL at the end or at "--", after which the words are init's. */
static const char *next_word(const char **p, size_t *len)
{
    while (**p == ' ')
        (*p)++;
    const char *word = *p;
    while (**p && **p != ' ')
        (*p)++;
    *len = (size_t)(*p - word);
    if (!*len || (*len == 2 && word[0] == '-' && word[1] == '-'))
        return NULL;
    return word;
}

int cmdline_get(const char *name, char *buf, size_t size)
{
    const char *p = boot_info.cmdline, *word;
    size_t name_len = strlen(name), len;
    while ((word = next_word(&p, &len))) {
        if (len > name_len && !strncmp(word, name, name_len) && word[name_len] == '=') {
            const char *value = word + name_len + 1;
            size_t n = len - name_len - 1;
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

/*
 * Every word the kernel understands before "--" (the rest is init's). A word
 * not listed here is a typo as far as the kernel can tell: it stops the boot
 * with a message rather than being silently ignored (which would make
 * `exit=O` or `selftets=pic` look like a pass).
 */
static const char *const known_words[] = {
    "exit", "echo", "idle", "spin", "timer_test", "selftest", "bench", "bench_pio", "bench_serial", "timer_hz",
    "crash", "i8042", "vga",
    "tsc",           /* tsc=pit: calibrate against the PIT even when CPUID 0x40000010 gives the rate */
    "ata_secondary", "mount", "sched_watchdog",   /* drivers/ata.c (pyos-vmm adds it), kernel/vfs.c */
    "interactive",   /* interactive=1 (pyos-vmm adds it when its stdin is a terminal): init starts a shell */
    NULL,
};

/* Exit status for a command line the kernel cannot accept (a usage error). */
#define CMDLINE_STATUS 2

static int word_is_known(const char *word, size_t len)
{
    for (const char *const *k = known_words; *k; k++) {
        size_t n = strlen(*k);
        if (len > n && !strncmp(word, *k, n) && word[n] == '=')
            return 1;
    }
    return 0;
}

static void reject(const char *what, const char *word, size_t len)
{
    char shown[64];
    size_t n = len < sizeof shown - 1 ? len : sizeof shown - 1;
    memcpy(shown, word, n);
    shown[n] = 0;
    printk("command line: %s '%s'; known words:", what, shown);
    for (const char *const *k = known_words; *k; k++)
        printk(" %s=", *k);
    printk(" and '-- PROGRAM ARGS' for init; powering off with status %d\n", CMDLINE_STATUS);
    poweroff(CMDLINE_STATUS);
}

void cmdline_check(void)
{
    const char *p = boot_info.cmdline, *word;
    size_t len;
    while ((word = next_word(&p, &len)))
        if (!word_is_known(word, len))
            reject("unknown word", word, len);
    char value[24];
    if (cmdline_get("exit", value, sizeof value)) {
        const char *end;
        long status = strtol(value, &end, 0);
        if (*end || end == value || status < 0 || status > 255)
            reject("exit= needs a status from 0 to 255, not", value, strlen(value));
    }
    if (cmdline_get("timer_hz", value, sizeof value)) {
        const char *end;
        long hz = strtol(value, &end, 10);
        if (*end || end == value || hz < 19 || hz > 10000)
            reject("timer_hz= needs a rate from 19 to 10000 Hz, not", value, strlen(value));
    }
    if (cmdline_get("tsc", value, sizeof value) && strcmp(value, "pit"))
        reject("tsc= knows only 'pit' (calibrate against the PIT), not", value, strlen(value));
    if (cmdline_get("bench_serial", value, sizeof value)) {
        const char *end;
        long n = strtol(value, &end, 0);
        if (*end || end == value || n < 0)
            reject("bench_serial= needs a byte count, not", value, strlen(value));
    }
}
