/*
 * sh: the pyos shell, a small POSIX-shaped command interpreter.
 *
 *   sh                  read commands from standard input (a prompt when it is a terminal)
 *   sh FILE [ARG...]    run the script FILE ($0 = FILE, $1... = ARGs)
 *   sh -c CMD [ARG...]  run CMD
 *
 * Grammar: a line is pipelines joined by ';', '&', '&&' and '||';
 * a pipeline is commands joined by '|' (any number); a command is words with
 * NAME=value assignments before them and redirections anywhere:
 * '<' '>' '>>' 'N>' 'N>>' 'N<' and 'N>&M'. Quoting: '...' (literal),
 * "..." ($ expansions and \ before $ " \ are special), and \ for one
 * character; '#' starts a comment. Expansions: $NAME ${NAME} $? $$ $! $#
 * $0-$9 $@ $*; unquoted expansions are split into words at blanks. A line
 * that ends inside quotes, after a '\' or after '|', '&&' or '||' continues
 * on the next.
 *
 * Each pipeline is one job: with a terminal, in its own process group
 * (setpgid) that the shell makes the terminal's foreground group
 * (TIOCSPGRP) while it runs, so Ctrl-C reaches the job and not the shell,
 * which ignores SIGINT. 'CMD &' runs it in the background: jobs lists those,
 * wait waits for them. Builtins: cd, pwd, exit, export, unset, set, jobs,
 * wait, ':'; and 'time PIPELINE' prints how long it took (the TSC, read in
 * user mode).
 *
 * Each pipeline is read (and its words expanded) just before it runs, so
 * 'X=1; echo $X' and 'false || echo $?' see the new values.
 *
 * Simplifications (said here, not hidden): no globbing, no command
 * substitution, no if/while/for/functions; '&' backgrounds the pipeline just
 * before it (in 'a && b &' only b runs in the background).
 *
 * Commands start in one function, launch(): fork, then in the child the
 * process group, the descriptors, the redirections and execve. On a kernel
 * without fork (the system call answers ENOSYS) it falls back to spawn with
 * the shell's own descriptors 0-2 moved into place around the call, which
 * runs programs built into the kernel only and cannot close the pipe ends a
 * child should not inherit.
 */
#include <ulib.h>

#define LINE_MAX 2048
#define MAX_WORDS 64
#define MAX_CMDS 16
#define MAX_REDIRS 8
#define MAX_ASSIGN 8
#define MAX_JOBS 16
#define MAX_VARS 128
#define ARENA 16384

/* ---- state ------------------------------------------------------------------------------ */

static int last_status;          /* $? */
static int last_background;      /* $! */
static int interactive;          /* prompts, job notices */
static int job_control;          /* process groups and the terminal's foreground group */
static int tty_fd = -1;          /* the terminal, kept on its own descriptor */
static int shell_pgid;
static int shell_pid;            /* $$ */
static int have_fork = 1;        /* cleared when fork() answers ENOSYS */
static int script_fd = -1;
static char **args;              /* $0 $1 ...: args[0] is $0 */
static int nargs;

/* ---- variables --------------------------------------------------------------------------- */

struct var {
    char *name, *value;
    int exported;
};
static struct var vars[MAX_VARS];
static int nvars;

static struct var *var_find(const char *name)
{
    for (int i = 0; i < nvars; i++)
        if (!strcmp(vars[i].name, name))
            return &vars[i];
    return NULL;
}

static const char *var_get(const char *name)
{
    struct var *v = var_find(name);
    return v ? v->value : NULL;
}

/* exported: 1 export it, 0 leave the flag as it is. */
static int var_set(const char *name, const char *value, int exported)
{
    struct var *v = var_find(name);
    if (!v) {
        if (nvars == MAX_VARS) {
            dprintf(2, "sh: too many variables (at most %d)\n", MAX_VARS);
            return -1;
        }
        v = &vars[nvars++];
        v->name = strdup(name);
        v->value = NULL;
        v->exported = 0;
    }
    char *copy = strdup(value);
    if (!copy || !v->name)
        return -1;
    free(v->value);
    v->value = copy;
    v->exported |= exported;
    return 0;
}

static void var_unset(const char *name)
{
    struct var *v = var_find(name);
    if (!v)
        return;
    free(v->name);
    free(v->value);
    *v = vars[--nvars];
}

static int valid_name(const char *s, size_t len)
{
    if (!len || !(isalpha(s[0]) || s[0] == '_'))
        return 0;
    for (size_t i = 1; i < len; i++)
        if (!(isalnum(s[i]) || s[i] == '_'))
            return 0;
    return 1;
}

/* "NAME=value" into the variable table. */
static int assign(const char *word, int exported)
{
    const char *eq = strchr(word, '=');
    char name[64];
    size_t len = (size_t)(eq - word);
    if (len >= sizeof name)
        return -1;
    memcpy(name, word, len);
    name[len] = 0;
    return var_set(name, eq + 1, exported);
}

/* The exported variables as "NAME=value" strings, for execve. */
static char **build_env(void)
{
    char **env = malloc((size_t)(nvars + 1) * sizeof *env);
    int n = 0;
    for (int i = 0; env && i < nvars; i++) {
        if (!vars[i].exported)
            continue;
        size_t size = strlen(vars[i].name) + strlen(vars[i].value) + 2;
        env[n] = malloc(size);
        if (env[n])
            snprintf(env[n++], size, "%s=%s", vars[i].name, vars[i].value);
    }
    if (env)
        env[n] = NULL;
    return env;
}

/* ---- parsing ----------------------------------------------------------------------------- */

struct redir {
    int fd;
    char op;            /* '<', '>', 'a' (>>), '&' (dup from `from`) */
    int from;
    char *target;
};

struct command {
    int argc;
    char *argv[MAX_WORDS + 1];
    int nassign;
    char *assign[MAX_ASSIGN];
    int nredir;
    struct redir redir[MAX_REDIRS];
};

struct pipeline {
    int ncmds;
    struct command cmd[MAX_CMDS];
    char text[128];     /* as typed, for jobs */
};

enum { T_END, T_SEMI, T_AMP, T_AND, T_OR };

static char arena[ARENA];      /* the words of the pipeline being read */
static size_t arena_used;

struct lexer {
    const char *p;
    char *word;                /* the word being built, in the arena */
    int started;               /* it has begun (even "" is a word) */
    char **out;                /* where finished words go */
    int n, max;
    int error;
};

/* The word has begun here, even if nothing is put into it ('' is a word). */
static void begin_word(struct lexer *lx)
{
    if (!lx->word) {
        lx->word = arena + arena_used;
        lx->started = 1;
    }
}

static void put(struct lexer *lx, char c)
{
    begin_word(lx);
    if (arena_used + 2 > ARENA) {
        lx->error = 1;
        return;
    }
    arena[arena_used++] = c;
}

static void end_word(struct lexer *lx)
{
    if (!lx->started && !lx->word)
        return;
    if (!lx->word)
        lx->word = arena + arena_used;
    if (arena_used + 1 > ARENA) {
        lx->error = 1;
        return;
    }
    arena[arena_used++] = 0;
    if (lx->n == lx->max) {
        lx->error = 2;
    } else {
        lx->out[lx->n++] = lx->word;
    }
    lx->word = NULL;
    lx->started = 0;
}

/* Expanded text into the word; split: unquoted, so blanks separate words. */
static void put_expansion(struct lexer *lx, const char *value, int split)
{
    for (; value && *value; value++) {
        if (split && isspace(*value))
            end_word(lx);
        else
            put(lx, *value);
    }
}

/* $... at lx->p: append its value. */
static void expand(struct lexer *lx, int split)
{
    const char *p = lx->p + 1;
    char name[64], number[24];
    const char *value = NULL;
    size_t len = 0;
    if (*p == '{') {
        const char *close = strchr(p, '}');
        if (!close || close - p - 1 >= (long)sizeof name) {
            put(lx, '$');
            lx->p++;
            return;
        }
        len = (size_t)(close - p - 1);
        memcpy(name, p + 1, len);
        name[len] = 0;
        p = close + 1;
    } else if (strchr("?$!#@*", *p) && *p) {
        name[0] = *p++;
        name[1] = 0;
    } else if (isdigit(*p)) {
        name[0] = *p++;
        name[1] = 0;
    } else {
        while ((isalnum(p[len]) || p[len] == '_') && len + 1 < sizeof name)
            len++;
        if (!len || !valid_name(p, len)) {
            put(lx, '$');     /* a lone '$' is itself */
            lx->p++;
            return;
        }
        memcpy(name, p, len);
        name[len] = 0;
        p += len;
    }
    lx->p = p;
    if (!strcmp(name, "?")) {
        snprintf(number, sizeof number, "%d", last_status);
        value = number;
    } else if (!strcmp(name, "$")) {
        snprintf(number, sizeof number, "%d", shell_pid);
        value = number;
    } else if (!strcmp(name, "!")) {
        snprintf(number, sizeof number, "%d", last_background);
        value = last_background ? number : "";
    } else if (!strcmp(name, "#")) {
        snprintf(number, sizeof number, "%d", nargs > 0 ? nargs - 1 : 0);
        value = number;
    } else if (!strcmp(name, "@") || !strcmp(name, "*")) {
        for (int i = 1; i < nargs; i++) {
            if (i > 1) {
                if (split)
                    end_word(lx);
                else
                    put(lx, ' ');
            }
            put_expansion(lx, args[i], split);
        }
        return;
    } else if (isdigit(name[0]) && !name[1]) {
        int i = name[0] - '0';
        value = i < nargs ? args[i] : "";
    } else {
        value = var_get(name);
    }
    put_expansion(lx, value, split);
}

static int is_operator(char c)
{
    return c == '|' || c == '&' || c == ';' || c == '<' || c == '>';
}

/* One shell word at lx->p (quotes, backslashes, expansions) into 0..n words. */
static void read_word(struct lexer *lx, int split)
{
    while (*lx->p && !lx->error) {
        char c = *lx->p;
        if (c == ' ' || c == '\t' || c == '\n' || is_operator(c))
            break;
        if (c == '\\') {
            lx->p++;
            if (*lx->p == '\n') {
                lx->p++;
                continue;
            }
            if (*lx->p)
                put(lx, *lx->p++);
        } else if (c == '\'') {
            begin_word(lx);
            for (lx->p++; *lx->p && *lx->p != '\''; lx->p++)
                put(lx, *lx->p);
            if (*lx->p)
                lx->p++;
        } else if (c == '"') {
            begin_word(lx);
            for (lx->p++; *lx->p && *lx->p != '"';) {
                if (*lx->p == '\\' && lx->p[1] && strchr("$\"\\`\n", lx->p[1])) {
                    if (lx->p[1] != '\n')
                        put(lx, lx->p[1]);
                    lx->p += 2;
                } else if (*lx->p == '$') {
                    expand(lx, 0);
                } else {
                    put(lx, *lx->p++);
                }
            }
            if (*lx->p)
                lx->p++;
        } else if (c == '$') {
            expand(lx, split);
        } else {
            put(lx, *lx->p++);
        }
    }
    end_word(lx);
}

static void skip_blanks(const char **p)
{
    while (**p == ' ' || **p == '\t')
        (*p)++;
}

static int syntax_error(const char *near)
{
    dprintf(2, "sh: syntax error near '%s'\n", *near ? near : "end of line");
    return -1;
}

/* A redirection at *p into c. */
static int parse_redir(const char **pp, struct command *c)
{
    const char *p = *pp;
    struct redir r = {.fd = -1};
    if (isdigit(*p))
        r.fd = *p++ - '0';
    if (*p == '<') {
        r.op = '<';
        p++;
    } else {
        p++;
        r.op = *p == '>' ? 'a' : *p == '&' ? '&' : '>';
        if (r.op != '>')
            p++;
    }
    if (r.fd < 0)
        r.fd = r.op == '<' ? 0 : 1;
    skip_blanks(&p);
    char *word[1];
    struct lexer lx = {.p = p, .out = word, .max = 1};
    if (!*p || *p == '\n' || is_operator(*p))
        return syntax_error(p);
    read_word(&lx, 0);
    if (lx.error || lx.n != 1) {
        dprintf(2, "sh: %s: a redirection needs one file name\n", lx.error ? "too long" : "empty");
        return -1;
    }
    if (r.op == '&') {
        if (!isdigit(word[0][0]) || word[0][1]) {
            dprintf(2, "sh: >&%s: want a descriptor number (2>&1)\n", word[0]);
            return -1;
        }
        r.from = word[0][0] - '0';
    }
    r.target = word[0];
    if (c->nredir == MAX_REDIRS) {
        dprintf(2, "sh: too many redirections (at most %d)\n", MAX_REDIRS);
        return -1;
    }
    c->redir[c->nredir++] = r;
    *pp = lx.p;
    return 0;
}

static int is_assignment(const char *p)
{
    const char *s = p;
    if (!(isalpha(*s) || *s == '_'))
        return 0;
    while (isalnum(*s) || *s == '_')
        s++;
    return *s == '=';
}

static int command_empty(const struct command *c)
{
    return !c->argc && !c->nassign && !c->nredir;
}

/* The next pipeline at *pp into pl, and how it ends (*term). 0, or -1 after a message. */
static int parse_pipeline(const char **pp, struct pipeline *pl, int *term)
{
    const char *p = *pp, *start, *end = NULL;
    arena_used = 0;
    pl->ncmds = 0;
    struct command *c = &pl->cmd[0];
    memset(c, 0, sizeof *c);
    skip_blanks(&p);
    start = p;
    for (;;) {
        skip_blanks(&p);
        char ch = *p;
        const char *here = p;
        if (!ch || ch == '\n' || ch == '#') {
            *term = T_END;
            end = p;
            p += strlen(p);
            break;
        }
        if (ch == ';' || ch == '&' || (ch == '|' && p[1] == '|')) {
            *term = ch == ';' ? T_SEMI : p[1] == '&' ? T_AND : ch == '&' ? T_AMP : T_OR;
            end = p;
            p += (*term == T_AND || *term == T_OR) ? 2 : 1;
            if (command_empty(c) && pl->ncmds)
                return syntax_error(here);
            if (command_empty(c) && *term != T_SEMI)
                return syntax_error(here);
            break;
        }
        if (ch == '|') {
            if (command_empty(c))
                return syntax_error(p);
            if (++pl->ncmds == MAX_CMDS) {
                dprintf(2, "sh: a pipeline of more than %d commands\n", MAX_CMDS);
                return -1;
            }
            c = &pl->cmd[pl->ncmds];
            memset(c, 0, sizeof *c);
            p++;
            continue;
        }
        if (ch == '<' || ch == '>' || (isdigit(ch) && (p[1] == '<' || p[1] == '>'))) {
            if (parse_redir(&p, c) < 0)
                return -1;
            continue;
        }
        struct lexer lx = {.p = p};
        if (!c->argc && is_assignment(p)) {
            lx.out = c->assign + c->nassign;
            lx.max = MAX_ASSIGN - c->nassign;
            read_word(&lx, 0);
            c->nassign += lx.n;
        } else {
            lx.out = c->argv + c->argc;
            lx.max = MAX_WORDS - c->argc;
            read_word(&lx, 1);
            c->argc += lx.n;
        }
        if (lx.error) {
            dprintf(2, "sh: %s\n", lx.error == 1 ? "line too long" : "too many words in a command");
            return -1;
        }
        p = lx.p;
    }
    if (!command_empty(c))
        pl->ncmds++;
    else if (pl->ncmds)
        return syntax_error("end of line");
    for (int i = 0; i < pl->ncmds; i++)
        pl->cmd[i].argv[pl->cmd[i].argc] = NULL;
    size_t len = (size_t)(end - start);
    while (len && (start[len - 1] == ' ' || start[len - 1] == '\t' || start[len - 1] == '\n'))
        len--;
    if (len >= sizeof pl->text)
        len = sizeof pl->text - 1;
    memcpy(pl->text, start, len);
    pl->text[len] = 0;
    *pp = p;
    return 0;
}

/*
 * Does the line need another one: inside quotes, after a '\' at its end,
 * or after a trailing '|', '&&' or '||'?
 */
static int line_incomplete(const char *s)
{
    char quote = 0, last = 0, before_last = 0;
    int word_start = 1;
    for (; *s; s++) {
        if (quote) {
            if (*s == quote)
                quote = 0;
            else if (quote == '"' && *s == '\\' && s[1])
                s++;
            continue;
        }
        if (*s == '\\') {
            if (!s[1])
                return 1;
            s++;
            last = 'x';
            word_start = 0;
            continue;
        }
        if (*s == '#' && word_start)
            break;
        if (*s == '\'' || *s == '"')
            quote = *s;
        if (*s != ' ' && *s != '\t') {
            before_last = last;
            last = *s;
        }
        word_start = *s == ' ' || *s == '\t' || is_operator(*s);
    }
    return quote || last == '|' || (last == '&' && before_last == '&');
}

/* ---- status words ------------------------------------------------------------------------ */

/* The $? of a wait status (Linux's encoding). */
static int exit_code(int status)
{
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

static void report_signal(int status)
{
    if (!WIFSIGNALED(status))
        return;
    int sig = WTERMSIG(status);
    if (sig == SIGINT) {
        putstr(2, "\n");
    } else if (sig != SIGPIPE) {
        const char *name = signal_name(sig);
        dprintf(2, "%s\n", sig == SIGKILL ? "Killed" : sig == SIGTERM ? "Terminated" :
                           sig == SIGSEGV ? "Segmentation fault" : name ? name : "killed by a signal");
    }
}

/* waitpid, or on a kernel without it the older wait (exit code only). */
static int wait_child(int pid, int *status, int options)
{
    static int have_waitpid = 1;
    for (;;) {
        int r = have_waitpid ? waitpid(pid, status, options) : -ENOSYS;
        if (r == -ENOSYS) {
            have_waitpid = 0;
            if (options & WNOHANG)
                return 0;
            int code = 0;
            r = wait(pid, &code);
            *status = (code & 0xff) << 8;
        }
        if (r != -EINTR)
            return r;
    }
}

/* ---- jobs -------------------------------------------------------------------------------- */

struct job {
    int id;                    /* 0: slot free */
    int pgid;
    int npids;
    int pids[MAX_CMDS];
    int done[MAX_CMDS];
    int status;                /* the last command's wait status */
    char text[128];
};
static struct job jobs[MAX_JOBS];

static struct job *job_add(const struct pipeline *pl, const int *pids, int pgid)
{
    int id = 1;
    for (int i = 0; i < MAX_JOBS; i++)
        if (jobs[i].id >= id)
            id = jobs[i].id + 1;
    for (int i = 0; i < MAX_JOBS; i++) {
        struct job *j = &jobs[i];
        if (j->id)
            continue;
        memset(j, 0, sizeof *j);
        j->id = id;
        j->pgid = pgid;
        j->npids = pl->ncmds;
        for (int k = 0; k < pl->ncmds; k++)
            j->pids[k] = pids[k];
        strncpy_z(j->text, pl->text, sizeof j->text);
        return j;
    }
    return NULL;
}

static int job_finished(const struct job *j)
{
    for (int k = 0; k < j->npids; k++)
        if (!j->done[k])
            return 0;
    return 1;
}

/* A background child ended: mark it. */
static void job_mark(int pid, int status)
{
    for (int i = 0; i < MAX_JOBS; i++) {
        struct job *j = &jobs[i];
        for (int k = 0; j->id && k < j->npids; k++) {
            if (j->pids[k] != pid)
                continue;
            j->done[k] = 1;
            if (k == j->npids - 1)
                j->status = status;
        }
    }
}

/* Collect the background children that have ended, without blocking. */
static void reap_jobs(void)
{
    int pid, status;
    while ((pid = wait_child(-1, &status, WNOHANG)) > 0)
        job_mark(pid, status);
}

/* Tell about (interactive) and forget the jobs that are done. */
static void notify_jobs(void)
{
    for (int i = 0; i < MAX_JOBS; i++) {
        struct job *j = &jobs[i];
        if (!j->id || !job_finished(j))
            continue;
        if (interactive) {
            int code = exit_code(j->status);
            if (code)
                dprintf(2, "[%d]  Done(%d)  %s\n", j->id, code, j->text);
            else
                dprintf(2, "[%d]  Done  %s\n", j->id, j->text);
        }
        j->id = 0;
    }
}

/* Block until every process of j has ended; the status of its last command. */
static int job_wait(struct job *j)
{
    for (int k = 0; k < j->npids; k++) {
        if (j->done[k])
            continue;
        int status;
        int r = wait_child(j->pids[k], &status, 0);
        j->done[k] = 1;
        if (r > 0 && k == j->npids - 1)
            j->status = status;
    }
    return exit_code(j->status);
}

/* ---- the terminal ------------------------------------------------------------------------ */

static void give_terminal(int pgid)
{
    if (job_control)
        ioctl(tty_fd, TIOCSPGRP, &pgid);
}

static void set_signal(int sig, unsigned long handler)
{
    struct pyos_sigaction sa = {.handler = handler};
    sigaction(sig, &sa, NULL);   /* ENOSYS on a kernel without signals: nothing to do */
}

/* ---- redirections and starting commands -------------------------------------------------- */

/* Apply c's redirections to this process's descriptors; 0, or -1 after a message. */
static int apply_redirs(const struct command *c)
{
    for (int i = 0; i < c->nredir; i++) {
        const struct redir *r = &c->redir[i];
        int fd;
        if (r->op == '&') {
            fd = dup2(r->from, r->fd);
            if (fd < 0) {
                dprintf(2, "sh: %d>&%d: %s\n", r->fd, r->from, strerror(-fd));
                return -1;
            }
            continue;
        }
        int flags = r->op == '<' ? O_RDONLY : r->op == 'a' ? O_WRONLY | O_CREAT | O_APPEND
                                                           : O_WRONLY | O_CREAT | O_TRUNC;
        fd = open(r->target, flags);
        if (fd < 0) {
            warn_err("sh", r->target, -fd);
            return -1;
        }
        if (fd != r->fd) {
            int d = dup2(fd, r->fd);
            close(fd);
            if (d < 0) {
                warn_err("sh", r->target, -d);
                return -1;
            }
        }
    }
    return 0;
}

/* Descriptors the shell keeps for itself (0-2 saved around builtins and spawn). */
struct saved_fds {
    int fd[3];
};

static void save_fds(struct saved_fds *s)
{
    for (int i = 0; i < 3; i++)
        s->fd[i] = dup(i);
}

static void restore_fds(struct saved_fds *s)
{
    for (int i = 0; i < 3; i++) {
        if (s->fd[i] >= 0) {
            dup2(s->fd[i], i);
            close(s->fd[i]);
        }
    }
}

static int is_builtin(const char *name);
static int run_builtin(struct command *c);

/* In the child: find argv[0] on $PATH and execve it; never returns. */
static void exec_command(struct command *c)
{
    for (int i = 0; i < c->nassign; i++)
        assign(c->assign[i], 1);
    char **env = build_env();
    const char *name = c->argv[0];
    int err = -ENOENT;
    if (strchr(name, '/')) {
        err = execve(name, c->argv, env);
    } else {
        const char *path = var_get("PATH");
        char full[256];
        for (const char *dir = path ? path : "/bin"; dir;) {
            const char *colon = strchr(dir, ':');
            size_t len = colon ? (size_t)(colon - dir) : strlen(dir);
            if (len + strlen(name) + 2 <= sizeof full) {
                memcpy(full, dir, len);
                snprintf(full + len, sizeof full - len, "%s%s", len ? "/" : "", name);
                int r = execve(full, c->argv, env);
                if (r != -ENOENT && r != -ENOTDIR)
                    err = r;
            }
            dir = colon ? colon + 1 : NULL;
        }
    }
    if (err == -ENOSYS) {   /* a kernel with fork but without execve: its built-in programs */
        int pid = spawn(name, (const char *const *)c->argv), code = 127;
        if (pid > 0)
            wait(pid, &code);
        exit(pid > 0 ? code : 127);
    }
    if (err == -ENOENT)
        dprintf(2, "sh: %s: command not found\n", name);
    else
        warn_err("sh", name, -err);
    exit(err == -ENOENT ? 127 : 126);
}

/*
 * Start command c with `in`/`out` (-1: the shell's own) as its standard input
 * and output, in process group pgid (0: a new one, led by the command);
 * close_fd is a pipe end the child must not keep. Returns the pid, or -errno.
 */
static int launch(struct command *c, int in, int out, int close_fd, int pgid, int foreground)
{
    if (have_fork) {
        int pid = fork();
        if (pid == 0) {
            if (job_control) {
                setpgid(0, pgid);
                if (foreground)
                    give_terminal(pgid ? pgid : getpid());
            }
            set_signal(SIGINT, SIG_DFL);
            set_signal(SIGQUIT, SIG_DFL);
            set_signal(SIGTSTP, SIG_DFL);
            if (in >= 0) {
                dup2(in, 0);
                close(in);
            }
            if (out >= 0) {
                dup2(out, 1);
                close(out);
            }
            if (close_fd >= 0)
                close(close_fd);
            if (tty_fd >= 0)
                close(tty_fd);
            if (script_fd >= 0)
                close(script_fd);
            if (apply_redirs(c) < 0)
                exit(1);
            if (is_builtin(c->argv[0]))
                exit(run_builtin(c));
            exec_command(c);
        }
        if (pid != -ENOSYS) {
            if (pid > 0 && job_control)
                setpgid(pid, pgid ? pgid : pid);   /* both sides do it: no race with the child */
            return pid;
        }
        have_fork = 0;
    }
    /* spawn: the child inherits our descriptors, so move 0-2 into place around it. */
    if (is_builtin(c->argv[0])) {
        dprintf(2, "sh: %s: a builtin in a pipeline needs fork\n", c->argv[0]);
        return -ENOSYS;
    }
    struct saved_fds saved;
    save_fds(&saved);
    if (in >= 0)
        dup2(in, 0);
    if (out >= 0)
        dup2(out, 1);
    int pid = apply_redirs(c) < 0 ? -EINVAL : spawn(c->argv[0], (const char *const *)c->argv);
    restore_fds(&saved);
    if (pid > 0 && job_control)
        setpgid(pid, pgid ? pgid : pid);
    if (pid == -ENOENT)
        dprintf(2, "sh: %s: command not found\n", c->argv[0]);
    else if (pid < 0 && pid != -EINVAL)
        warn_err("sh", c->argv[0], -pid);
    return pid;
}

/* ---- running pipelines ------------------------------------------------------------------- */

static int run_pipeline(struct pipeline *pl, int background)
{
    struct command *first = &pl->cmd[0];
    if (pl->ncmds == 1 && !first->argc) {           /* NAME=value... [redirections] */
        struct saved_fds saved;
        save_fds(&saved);
        int r = apply_redirs(first);
        restore_fds(&saved);
        for (int i = 0; r == 0 && i < first->nassign; i++)
            if (assign(first->assign[i], 0) < 0)
                r = -1;
        return r < 0 ? 1 : 0;
    }
    if (pl->ncmds == 1 && !background && is_builtin(first->argv[0])) {
        struct saved_fds saved;
        save_fds(&saved);
        int status = apply_redirs(first) < 0 ? 1 : run_builtin(first);
        restore_fds(&saved);
        return status;
    }
    int pids[MAX_CMDS], pgid = 0, prev = -1, started = 0, launch_error = 0;
    for (int i = 0; i < pl->ncmds; i++) {
        int p[2] = {-1, -1};
        if (i + 1 < pl->ncmds && pipe(p) < 0) {
            dprintf(2, "sh: cannot make a pipe\n");
            break;
        }
        int pid = launch(&pl->cmd[i], prev, p[1], p[0], pgid, !background);
        if (prev >= 0)
            close(prev);
        if (p[1] >= 0)
            close(p[1]);
        prev = p[0];
        if (pid < 0) {
            if (i + 1 == pl->ncmds)
                launch_error = pid == -ENOENT ? 127 : 126;
            continue;
        }
        if (!pgid)
            pgid = pid;
        pids[started++] = pid;
    }
    if (prev >= 0)
        close(prev);
    if (!started)
        return launch_error ? launch_error : 127;
    struct job fg = {.npids = started, .pgid = pgid};
    for (int k = 0; k < started; k++)
        fg.pids[k] = pids[k];
    if (background) {
        struct pipeline shown = *pl;
        snprintf(shown.text, sizeof shown.text, "%s &", pl->text);
        shown.ncmds = started;
        struct job *j = job_add(&shown, pids, pgid);
        last_background = pids[started - 1];
        if (interactive)
            dprintf(2, "[%d] %d\n", j ? j->id : 0, last_background);
        if (!j)
            dprintf(2, "sh: too many jobs (at most %d); this one is not tracked\n", MAX_JOBS);
        return 0;
    }
    give_terminal(pgid);
    int code = job_wait(&fg);
    give_terminal(shell_pgid);
    report_signal(fg.status);
    return launch_error ? launch_error : code;
}

/* The TSC, read in user mode: the clock of the time keyword. */
static unsigned long rdtsc(void)
{
    unsigned int lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (unsigned long)hi << 32 | lo;
}

/* 'time PIPELINE': run it and print its wall-clock time on standard error. */
static int run_timed(struct pipeline *pl, int background)
{
    struct command *c = &pl->cmd[0];
    c->argc--;
    memmove(c->argv, c->argv + 1, (size_t)(c->argc + 1) * sizeof c->argv[0]);
    if (command_empty(c) && pl->ncmds > 1) {
        syntax_error("|");
        return 2;
    }
    static unsigned long tsc_khz;
    if (!tsc_khz) {
        struct pyos_sysinfo info;
        tsc_khz = sysinfo(&info) == 0 && info.tsc_khz ? info.tsc_khz : 1;
    }
    unsigned long start = rdtsc();
    int status = command_empty(c) ? 0 : run_pipeline(pl, background);
    unsigned long us = (rdtsc() - start) * 1000 / tsc_khz;
    dprintf(2, "real %lu.%06lu s\n", us / 1000000, us % 1000000);
    return status;
}

/* Run a line: its pipelines in order, as their connectors say. */
static void run_line(const char *line)
{
    const char *p = line;
    static struct pipeline pl;
    int skip = 0, term = T_END;
    do {
        if (parse_pipeline(&p, &pl, &term) < 0) {
            last_status = 2;
            return;
        }
        if (pl.ncmds && !skip) {
            if (pl.cmd[0].argc && !strcmp(pl.cmd[0].argv[0], "time"))
                last_status = run_timed(&pl, term == T_AMP);
            else
                last_status = run_pipeline(&pl, term == T_AMP);
        }
        if (term == T_AND)
            skip = last_status != 0;
        else if (term == T_OR)
            skip = last_status == 0;
        else
            skip = 0;
    } while (term != T_END);
}

/* ---- builtins ---------------------------------------------------------------------------- */

static int builtin_cd(struct command *c)
{
    const char *dir = c->argc > 1 ? c->argv[1] : var_get("HOME");
    int r = chdir(dir ? dir : "/");
    if (r < 0) {
        dprintf(2, "sh: cd: %s: %s\n", dir ? dir : "/", strerror(-r));
        return 1;
    }
    char cwd[256];
    if (getcwd(cwd, sizeof cwd) >= 0)
        var_set("PWD", cwd, 0);
    return 0;
}

static int builtin_pwd(struct command *c)
{
    (void)c;
    char cwd[256];
    long r = getcwd(cwd, sizeof cwd);
    if (r < 0) {
        warn_err("sh", "pwd", (int)-r);
        return 1;
    }
    printf("%s\n", cwd);
    return 0;
}

static int builtin_exit(struct command *c)
{
    exit(c->argc > 1 ? atoi(c->argv[1]) : last_status);
}

static int builtin_export(struct command *c)
{
    if (c->argc == 1) {
        for (int i = 0; i < nvars; i++)
            if (vars[i].exported)
                printf("export %s='%s'\n", vars[i].name, vars[i].value);
        return 0;
    }
    int status = 0;
    for (int i = 1; i < c->argc; i++) {
        const char *a = c->argv[i], *eq = strchr(a, '=');
        if (!valid_name(a, eq ? (size_t)(eq - a) : strlen(a))) {
            dprintf(2, "sh: export: '%s': not a variable name\n", a);
            status = 1;
        } else if (eq) {
            assign(a, 1);
        } else {
            const char *v = var_get(a);
            var_set(a, v ? v : "", 1);
        }
    }
    return status;
}

static int builtin_unset(struct command *c)
{
    for (int i = 1; i < c->argc; i++)
        var_unset(c->argv[i]);
    return 0;
}

static int builtin_set(struct command *c)
{
    (void)c;
    for (int i = 0; i < nvars; i++)
        printf("%s='%s'\n", vars[i].name, vars[i].value);
    return 0;
}

static int builtin_jobs(struct command *c)
{
    (void)c;
    reap_jobs();
    for (int i = 0; i < MAX_JOBS; i++) {
        struct job *j = &jobs[i];
        if (!j->id)
            continue;
        printf("[%d]  %-8s %s\n", j->id, job_finished(j) ? "Done" : "Running", j->text);
    }
    for (int i = 0; i < MAX_JOBS; i++)   /* listed as done: forgotten, as notify would */
        if (jobs[i].id && job_finished(&jobs[i]))
            jobs[i].id = 0;
    return 0;
}

/* wait [%JOB | PID ...]: all background jobs, or the ones named; the last one's status. */
static int builtin_wait(struct command *c)
{
    int status = 0;
    if (c->argc == 1) {
        for (int i = 0; i < MAX_JOBS; i++) {
            if (jobs[i].id) {
                job_wait(&jobs[i]);
                jobs[i].id = 0;
            }
        }
        return 0;
    }
    for (int a = 1; a < c->argc; a++) {
        const char *arg = c->argv[a];
        long n = parse_count(arg[0] == '%' ? arg + 1 : arg);
        struct job *found = NULL;
        for (int i = 0; i < MAX_JOBS && n > 0; i++) {
            struct job *j = &jobs[i];
            if (!j->id)
                continue;
            if (arg[0] == '%' ? j->id == n : j->pids[j->npids - 1] == n || j->pgid == n)
                found = j;
        }
        if (!found) {
            dprintf(2, "sh: wait: %s: no such job\n", arg);
            status = 127;
            continue;
        }
        status = job_wait(found);
        found->id = 0;
    }
    return status;
}

static int builtin_colon(struct command *c)
{
    (void)c;
    return 0;
}

static const struct {
    const char *name;
    int (*fn)(struct command *);
} builtins[] = {
    {"cd", builtin_cd},       {"pwd", builtin_pwd},   {"exit", builtin_exit}, {"export", builtin_export},
    {"unset", builtin_unset}, {"set", builtin_set},   {"jobs", builtin_jobs}, {"wait", builtin_wait},
    {":", builtin_colon},
};

static int is_builtin(const char *name)
{
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
        if (!strcmp(builtins[i].name, name))
            return 1;
    return 0;
}

static int run_builtin(struct command *c)
{
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
        if (!strcmp(builtins[i].name, c->argv[0]))
            return builtins[i].fn(c);
    return 127;
}

/* ---- the main loop ----------------------------------------------------------------------- */

static void prompt(const char *ps)
{
    const char *custom = var_get(ps);
    if (custom) {
        putstr(2, custom);
        return;
    }
    if (!strcmp(ps, "PS2")) {
        putstr(2, "> ");
        return;
    }
    char cwd[200];
    if (getcwd(cwd, sizeof cwd) < 0)
        strcpy(cwd, "?");
    dprintf(2, "pyos:%s$ ", cwd);
}

/* Commands from fd until its end; the status of the last. */
static int run_input(int fd)
{
    static struct reader in;
    static char line[LINE_MAX], more[LINE_MAX];
    reader_init(&in, fd);
    for (;;) {
        if (interactive) {
            reap_jobs();
            notify_jobs();
            prompt("PS1");
        }
        long n = read_line(&in, line, sizeof line);
        if (n < 0)
            break;
        int ended = 0, too_long = 0;
        while (!too_long && line_incomplete(line)) {
            if (interactive)
                prompt("PS2");
            long m = read_line(&in, more, sizeof more);
            if (m < 0) {
                ended = 1;
                break;
            }
            size_t len = strlen(line);
            if (len + 2 + (size_t)m >= sizeof line) {
                dprintf(2, "sh: line too long (at most %d bytes)\n", LINE_MAX - 1);
                too_long = 1;
            } else {
                if (len && line[len - 1] == '\\')
                    line[len - 1] = 0;          /* backslash-newline: the lines join */
                else
                    strcat(line, "\n");
                strcat(line, more);
            }
        }
        if (ended) {
            dprintf(2, "sh: unexpected end of input: an unclosed quote, or a command missing after | && ||\n");
            last_status = 2;
            break;
        }
        if (too_long)
            last_status = 2;
        else
            run_line(line);
    }
    if (interactive)
        putstr(2, "\n");
    return last_status;
}

int main(int argc, char **argv)
{
    for (char **e = environ; e && *e; e++)
        if (strchr(*e, '='))
            assign(*e, 1);
    if (!var_get("PATH"))
        var_set("PATH", "/bin", 1);
    if (!var_get("HOME"))
        var_set("HOME", "/", 1);
    shell_pid = shell_pgid = getpid();
    args = argv;
    nargs = argc;
    int force_interactive = argc > 1 && !strcmp(argv[1], "-i");
    if (force_interactive) {
        args++;
        nargs--;
    }
    if (nargs > 2 && !strcmp(args[1], "-c")) {       /* sh -c CMD [NAME ARG...] */
        const char *cmd = args[2];
        args += 2;
        nargs -= 2;
        if (nargs < 2) {
            args[0] = "sh";
            nargs = 1;
        } else {
            args++;
            nargs--;
        }
        run_line(cmd);
        return last_status;
    }
    if (nargs > 1 && !strcmp(args[1], "-c")) {
        dprintf(2, "usage: sh [-i] [FILE [ARG...]] | sh -c COMMAND [NAME [ARG...]]\n");
        return 2;
    }
    if (nargs > 1) {                                   /* sh FILE [ARG...] */
        args++;
        nargs--;
        script_fd = open(args[0], O_RDONLY);
        if (script_fd < 0) {
            warn_err("sh", args[0], -script_fd);
            return 127;
        }
        return run_input(script_fd);
    }
    interactive = force_interactive || isatty(0);
    if (interactive) {
        tty_fd = dup(0);
        set_signal(SIGINT, SIG_IGN);
        set_signal(SIGQUIT, SIG_IGN);
        set_signal(SIGTSTP, SIG_IGN);
        /* Job control wants process groups: the shell leads its own and owns the terminal. */
        if (tty_fd >= 0 && setpgid(0, 0) == 0) {
            shell_pgid = getpgid(0) > 0 ? getpgid(0) : getpid();
            job_control = 1;
            if (ioctl(tty_fd, TIOCSPGRP, &shell_pgid) < 0)
                job_control = 0;
        }
    }
    return run_input(0);
}
