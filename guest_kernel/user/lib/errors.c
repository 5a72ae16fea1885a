/* Error messages, signal names and isatty (ulib.h). */
#include <ulib.h>

static const char *const messages[] = {
    [EPERM] = "Operation not permitted",
    [ENOENT] = "No such file or directory",
    [ESRCH] = "No such process",
    [EINTR] = "Interrupted system call",
    [EIO] = "Input/output error",
    [ENXIO] = "No such device or address",
    [E2BIG] = "Argument list too long",
    [ENOEXEC] = "Exec format error",
    [EBADF] = "Bad file descriptor",
    [ECHILD] = "No child processes",
    [EAGAIN] = "Resource temporarily unavailable",
    [ENOMEM] = "Cannot allocate memory",
    [EFAULT] = "Bad address",
    [EBUSY] = "Device or resource busy",
    [EEXIST] = "File exists",
    [EXDEV] = "Invalid cross-device link",
    [ENODEV] = "No such device",
    [ENOTDIR] = "Not a directory",
    [EISDIR] = "Is a directory",
    [EINVAL] = "Invalid argument",
    [ENFILE] = "Too many open files in system",
    [EMFILE] = "Too many open files",
    [ENOTTY] = "Inappropriate ioctl for device",
    [EFBIG] = "File too large",
    [ENOSPC] = "No space left on device",
    [ESPIPE] = "Illegal seek",
    [EROFS] = "Read-only file system",
    [EMLINK] = "Too many links",
    [EPIPE] = "Broken pipe",
    [ERANGE] = "Numerical result out of range",
    [ENAMETOOLONG] = "File name too long",
    [ENOSYS] = "Function not implemented",
    [ENOTEMPTY] = "Directory not empty",
    [ELOOP] = "Too many levels of symbolic links",
};

const char *strerror(int err)
{
    static char unknown[32];
    if (err > 0 && err < (int)(sizeof messages / sizeof messages[0]) && messages[err])
        return messages[err];
    snprintf(unknown, sizeof unknown, "Unknown error %d", err);
    return unknown;
}

void warn_err(const char *prog, const char *what, int err)
{
    dprintf(2, "%s: %s: %s\n", prog, what, strerror(err));
}

static const char *const signals[NSIG] = {
    [SIGHUP] = "HUP", [SIGINT] = "INT", [SIGQUIT] = "QUIT", [SIGILL] = "ILL", [SIGTRAP] = "TRAP",
    [SIGABRT] = "ABRT", [SIGBUS] = "BUS", [SIGFPE] = "FPE", [SIGKILL] = "KILL", [SIGUSR1] = "USR1",
    [SIGSEGV] = "SEGV", [SIGUSR2] = "USR2", [SIGPIPE] = "PIPE", [SIGALRM] = "ALRM", [SIGTERM] = "TERM",
    [SIGCHLD] = "CHLD", [SIGCONT] = "CONT", [SIGSTOP] = "STOP", [SIGTSTP] = "TSTP",
};

const char *signal_name(int sig)
{
    return sig > 0 && sig < NSIG ? signals[sig] : NULL;
}

int signal_number(const char *name)
{
    if (isdigit(*name)) {
        long n = parse_count(name);
        return n > 0 && n < NSIG ? (int)n : -1;
    }
    if (!strncmp(name, "SIG", 3))
        name += 3;
    for (int i = 1; i < NSIG; i++)
        if (signals[i] && !strcmp(signals[i], name))
            return i;
    return -1;
}

/* A terminal: the tty answers TCGETS. A kernel without a tty (ioctl is
 * ENOSYS there) has the console as its one character device besides
 * /dev/null, so any character device counts. */
int isatty(int fd)
{
    struct pyos_termios t;
    int r = ioctl(fd, TCGETS, &t);
    if (r != -ENOSYS)
        return r == 0;
    struct pyos_stat st;
    return fstat(fd, &st) == 0 && (st.mode & 0170000) == 0020000;
}
