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

/* The kernel's words, found once (the command line never changes): where
 * each starts, its length and its name's (up to the '='). A word is at least
 * one character and a space, so the command line holds at most 128. Kernel
 * code is emulated instruction by instruction on PVM hosts, and the boot
 * asks for some twenty names. */
static struct word {
    const char *text;
    uint16_t len, name_len;
} words[PYOS_CMDLINE_MAX / 2];
static int nwords = -1;

static void find_words(void)
{
    const char *p = boot_info.cmdline, *text;
    size_t len;
    nwords = 0;
    while ((text = next_word(&p, &len))) {
        size_t name_len = 0;
        while (name_len < len && text[name_len] != '=')
            name_len++;
        words[nwords++] = (struct word){text, (uint16_t)len, (uint16_t)name_len};
    }
}

int cmdline_get(const char *name, char *buf, size_t size)
{
    if (nwords < 0)
        find_words();
    size_t name_len = strlen(name);
    for (const struct word *w = words; w < words + nwords; w++) {
        if (w->name_len == name_len && w->len > name_len && !strncmp(w->text, name, name_len)) {
            const char *value = w->text + name_len + 1;
            size_t n = w->len - name_len - 1;
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
#define KNOWN(name) {name, sizeof name - 1}
static const struct known { const char *name; size_t len; } known_words[] = {
    KNOWN("exit"), KNOWN("echo"), KNOWN("idle"), KNOWN("spin"), KNOWN("timer_test"), KNOWN("selftest"),
    KNOWN("bench"), KNOWN("bench_pio"), KNOWN("bench_serial"), KNOWN("timer_hz"), KNOWN("crash"), KNOWN("i8042"),
    KNOWN("vga"),
    KNOWN("tsc"),           /* tsc=pit: calibrate against the PIT even when CPUID 0x40000010 gives the rate */
    KNOWN("ata_secondary"), KNOWN("mount"), KNOWN("sched_watchdog"),  /* drivers/ata.c (pyos-vmm adds it), kernel/vfs.c */
    KNOWN("interactive"),   /* interactive=1 (pyos-vmm adds it when its stdin is a terminal): init starts a shell */
    {NULL, 0},
};

/* Exit status for a command line the kernel cannot accept (a usage error). */
#define CMDLINE_STATUS 2

static int word_is_known(const struct word *w)
{
    for (const struct known *k = known_words; k->name; k++)
        if (w->name_len == k->len && w->len > k->len && !strncmp(w->text, k->name, k->len))
            return 1;
    return 0;
}

static void reject(const char *what, const char *word, size_t len)
{
    char shown[64];
    size_t n = len < sizeof shown - 1 ? len : sizeof shown - 1;
    memcpy(shown, word, n);
    shown[n] = 0;
    printk("command line: %s '%s'; known words:", what, shown);
    for (const struct known *k = known_words; k->name; k++)
        printk(" %s=", k->name);
    printk(" and '-- PROGRAM ARGS' for init; powering off with status %d\n", CMDLINE_STATUS);
    poweroff(CMDLINE_STATUS);
}

void cmdline_check(void)
{
    if (nwords < 0)
        find_words();
    for (const struct word *w = words; w < words + nwords; w++)
        if (!word_is_known(w))
            reject("unknown word", w->text, w->len);
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
