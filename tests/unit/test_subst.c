/*
 * lib/subst: {{name}} placeholders. Names, limits and Alibaba's error
 * codes; templates refused where no value can be made literal; and, with
 * the real /bin/sh (Debian's dash) and bash, hostile values in every
 * context reaching a program as exactly the expected arguments, byte for
 * byte, with nothing else run: a canary file that any stray command in
 * the values would create stays absent.
 *
 * The test binary is its own witness: run through a symbolic link named
 * lk-argdump or send_ssh_public_key (in a scratch bin/ on PATH), it
 * appends its arguments to the file $LK_DUMP and exits.
 */
#include "unit.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <sys/wait.h>

#include "err.h"
#include "subst.h"

#define CANARY	"canary"
#define ARGS_MAX 8

static char self_exe[PATH_MAX];

/* ---- the witness ------------------------------------------------- */

/* Appends "argc\n" then "len\n<bytes>\n" per argument to $LK_DUMP. */
static int
dump_main(int argc, char **argv)
{
	const char *path = getenv("LK_DUMP");
	size_t n;
	int fd, i;

	if (path == NULL || (fd = open(path, O_WRONLY | O_APPEND | O_CREAT,
	    0600)) == -1)
		return 111;
	dprintf(fd, "%d\n", argc - 1);
	for (i = 1; i < argc; i++) {
		n = strlen(argv[i]);
		dprintf(fd, "%zu\n", n);
		if (write(fd, argv[i], n) != (ssize_t)n || write(fd, "\n", 1) != 1)
			return 112;
	}
	close(fd);
	return 0;
}

struct rec {
	size_t	 n;
	char	*arg[ARGS_MAX];
	size_t	 len[ARGS_MAX];
};

static size_t
parse_num(const char **pp, const char *end)
{
	const char *p = *pp;
	char *e;
	unsigned long v;

	assert_true(p < end);
	errno = 0;
	v = strtoul(p, &e, 10);
	assert_true(errno == 0 && e > p && e < end && *e == '\n');
	*pp = e + 1;
	return (size_t)v;
}

/* Parses the dump into at most max records; returns how many. */
static size_t
parse_dump(const char *buf, size_t blen, struct rec *r, size_t max)
{
	const char *p = buf, *end = buf + blen;
	size_t nr = 0, i;

	while (p < end) {
		assert_true(nr < max);
		r[nr].n = parse_num(&p, end);
		assert_true(r[nr].n <= ARGS_MAX);
		for (i = 0; i < r[nr].n; i++) {
			r[nr].len[i] = parse_num(&p, end);
			assert_true((size_t)(end - p) > r[nr].len[i]);
			r[nr].arg[i] = (char *)(uintptr_t)p;
			p += r[nr].len[i];
			assert_true(*p == '\n');
			p++;
		}
		nr++;
	}
	return nr;
}

/* ---- scratch directory and shells -------------------------------- */

struct shctx {
	const void *arg;		/* the context or body under test */
	char	dir[64];		/* the scripts' working directory */
	char	bin[96];
	char	dump[96];
	char	out[96];		/* out.txt, for here-documents */
	char	env_path[160];
	char	env_dump[128];
	char	env_home[32];
	char	env_lc[16];
};

static const char *shells[] = { "/bin/sh", "/bin/bash" };
#define NSHELLS	(sizeof(shells) / sizeof(shells[0]))

static int
sh_setup(void **state)
{
	struct shctx *c = calloc(1, sizeof(*c));
	char link[160];

	if (c == NULL)
		return -1;
	c->arg = *state;
	snprintf(c->dir, sizeof(c->dir), "/tmp/lk-unit-subst.XXXXXX");
	if (mkdtemp(c->dir) == NULL) {
		free(c);
		return -1;
	}
	snprintf(c->bin, sizeof(c->bin), "%s/bin", c->dir);
	snprintf(c->dump, sizeof(c->dump), "%s/dump", c->dir);
	snprintf(c->out, sizeof(c->out), "%s/out.txt", c->dir);
	snprintf(c->env_path, sizeof(c->env_path), "PATH=%s:/usr/bin:/bin",
	    c->bin);
	snprintf(c->env_dump, sizeof(c->env_dump), "LK_DUMP=%s", c->dump);
	snprintf(c->env_home, sizeof(c->env_home), "HOME=/lk-no-home");
	snprintf(c->env_lc, sizeof(c->env_lc), "LC_ALL=C");
	if (mkdir(c->bin, 0700) == -1)
		return -1;
	snprintf(link, sizeof(link), "%s/lk-argdump", c->bin);
	if (symlink(self_exe, link) == -1)
		return -1;
	snprintf(link, sizeof(link), "%s/send_ssh_public_key", c->bin);
	if (symlink(self_exe, link) == -1)
		return -1;
	/* Files for a stray glob to find. */
	snprintf(link, sizeof(link), "%s/gfile1", c->dir);
	t_write_file(link, "", 0, 0600);
	snprintf(link, sizeof(link), "%s/gfile2", c->dir);
	t_write_file(link, "", 0, 0600);
	*state = c;
	return 0;
}

static int
sh_teardown(void **state)
{
	struct shctx *c = *state;

	t_rm_rf(c->dir);
	free(c);
	return 0;
}

/* Runs script with shell -c in the scratch directory; the wait status. */
static int
run_sh(struct shctx *c, const char *shell, const char *script)
{
	char a0[] = "sh", a1[] = "-c", *s, *argv[4], *envp[5];
	pid_t pid;
	int st = 0, i;

	assert_non_null(s = strdup(script));
	argv[0] = a0;
	argv[1] = a1;
	argv[2] = s;
	argv[3] = NULL;
	envp[0] = c->env_path;
	envp[1] = c->env_dump;
	envp[2] = c->env_home;
	envp[3] = c->env_lc;
	envp[4] = NULL;
	assert_true((pid = fork()) != -1);
	if (pid == 0) {
		if (chdir(c->dir) == 0)
			execve(shell, argv, envp);
		_exit(127);
	}
	free(s);
	for (i = 0; i < 2000; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return st;
		usleep(5000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	fail_msg("%s timed out on: %s", shell, script);
	return -1;
}

static int
exists(struct shctx *c, const char *name)
{
	char path[160];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", c->dir, name);
	return lstat(path, &st) == 0;
}

static void
reset(struct shctx *c)
{
	char path[160];

	unlink(c->dump);
	unlink(c->out);
	snprintf(path, sizeof(path), "%s/%s", c->dir, CANARY);
	unlink(path);
}

/* pattern with every @ replaced by v (none when v is NULL). */
static char *
expand(const char *pattern, const char *v)
{
	struct tbuf b = { NULL, 0, 0 };
	const char *at;

	tbuf_put(&b, "", 0);
	while (v != NULL && (at = strchr(pattern, '@')) != NULL) {
		tbuf_put(&b, pattern, (size_t)(at - pattern));
		tbuf_put(&b, v, strlen(v));
		pattern = at + 1;
	}
	tbuf_put(&b, pattern, strlen(pattern));
	return (char *)b.p;
}

static char *
subst1(const char *tmpl, const char *name, const char *v)
{
	struct lk_subst_param p;
	const char *code = NULL;
	char *out = NULL;
	int r;

	p.name = name;
	p.value = v;
	r = lk_subst_apply(tmpl, &p, 1, NULL, 0, NULL, 0, &out, &code);
	if (r != 0)
		fail_msg("apply(\"%s\") = %d (%s)", tmpl, r, code);
	return out;
}

/* The script ran, exited 0, dumped want[] once, and ran nothing else. */
static void
expect_dump(struct shctx *c, const char *shell, const char *script,
    const char *const *want, const char *v)
{
	struct rec r[2];
	char *buf, *w;
	size_t len, nr, i;
	int st;

	reset(c);
	st = run_sh(c, shell, script);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("%s: status %d on: %s", shell, st, script);
	if (exists(c, CANARY))
		fail_msg("%s: the canary was created by: %s", shell, script);
	buf = t_read_file(c->dump, &len);
	nr = parse_dump(buf, len, r, 2);
	if (nr != 1)
		fail_msg("%s: %zu runs of the witness for: %s", shell, nr, script);
	for (i = 0; want[i] != NULL; i++) {
		w = expand(want[i], v);
		if (i >= r[0].n || r[0].len[i] != strlen(w) ||
		    memcmp(r[0].arg[i], w, r[0].len[i]) != 0)
			fail_msg("%s: argument %zu differs for: %s", shell, i,
			    script);
		free(w);
	}
	if (r[0].n != i)
		fail_msg("%s: %zu arguments, not %zu, for: %s", shell, r[0].n,
		    i, script);
	free(buf);
}

static int
have_shell(const char *shell)
{
	return access(shell, X_OK) == 0;
}

/* ---- values and contexts ------------------------------------------ */

static char big[LK_SUBST_VALUE_MAX + 1];	/* 16 KiB of bytes 1..255 */
static char allbytes[256];			/* 1..255 once */

static const char *const values[] = {
	"'", "a'b", "''", "\"", "a\"b", "\"'\"'",
	"$(touch " CANARY ")", "`touch " CANARY "`", "$(touch${IFS}" CANARY ")",
	"; touch " CANARY, ";touch " CANARY ";", "x && touch " CANARY,
	"x || touch " CANARY, "x | touch " CANARY, "x & touch " CANARY,
	"> " CANARY, ">" CANARY, ">> " CANARY, "< /etc/passwd", "<(touch "
	CANARY ")",
	"a\ntouch " CANARY "\nb", "\n", "a\rtouch " CANARY "\r", "a\tb\t",
	"*", "?", "g*", "gfile[12]", "{gfile1,gfile2}", "~", "~root", "~/x",
	"$HOME", "${HOME}", "${x:-y}", "$1", "$@", "$#", "$$", "$((1+1))",
	"\\", "a\\b", "\\n", "trailing\\", "\\'", "\\\"", "\\$(touch " CANARY
	")",
	"-n", "--help", "-", "--", "", " ", "a b  c", " lead", "trail ",
	"h\xc3\xa9llo \xe4\xb8\x96\xe7\x95\x8c \xf0\x9f\x99\x82",
	"'\"$(touch " CANARY ")\"'", "';touch " CANARY ";'",
	"\";touch " CANARY ";\"", "\\\";touch " CANARY ";#", "'\\''",
	"}}{{v}}", "{{v}}", "EOF", "#", "x #y", "!", "!!", "a=b",
	"[[ x ]]", "a[$(touch " CANARY ")]", "(", ")", "${", "}",
	"a\n\tb",
	big, allbytes,
};
#define NVALUES	(sizeof(values) / sizeof(values[0]))

struct tctx {
	const char	*name;
	const char	*tmpl;
	const char	*want[4];	/* @ stands for the value */
};

static const struct tctx contexts[] = {
	{ "unquoted", "lk-argdump {{v}}", { "@" } },
	{ "single quotes", "lk-argdump 'a{{v}}b'", { "a@b" } },
	{ "double quotes", "lk-argdump \"a{{v}}b\"", { "a@b" } },
	{ "$(...)", "x=$(lk-argdump {{v}})", { "@" } },
	{ "\"$(...)\"", "x=\"$(lk-argdump {{v}})\"", { "@" } },
	{ "\"$(\"...\")\"", "x=\"$(lk-argdump \"<{{v}}>\")\"", { "<@>" } },
	{ "--opt=", "lk-argdump --opt={{v}}", { "--opt=@" } },
	{ "adjacent", "lk-argdump pre{{v}}'mid'{{ V }}\"post\"",
	    { "pre@mid@post" } },
	{ "set --", "set -- {{v}}; lk-argdump \"$#\" \"$1\"", { "1", "@" } },
	{ "assignment", "x={{v}}; lk-argdump \"$x\"", { "@" } },
	{ "case", "case {{v}} in *) lk-argdump {{v}};; esac", { "@" } },
	{ "function", "f() { lk-argdump \"$@\"; }\nf {{v}}", { "@" } },
	{ "subshell", "(lk-argdump {{v}})", { "@" } },
	{ "pipeline", "if true; then echo x | lk-argdump {{v}}; fi", { "@" } },
	{ "and-or", "false || lk-argdump {{v}} && true", { "@" } },
	{ "escapes in \"...\"", "lk-argdump \"\\\\{{v}}\\\"\"", { "\\@\"" } },
	{ "comments", "# {{ not a placeholder }} $(x)\n"
	    "lk-argdump {{v}} # {{ v\n", { "@" } },
	{ "multi-line \"...\"", "lk-argdump \"1\n{{v}}\n3\"", { "1\n@\n3" } },
	{ "after $HOME", "lk-argdump \"$HOME\"-{{v}}", { "/lk-no-home-@" } },
	{ "$(...) in \"...\" in $(...)",
	    "x=$(y=\"$(lk-argdump {{v}} '{{v}}')\")", { "@", "@" } },
	{ "redirections", "lk-argdump {{v}} </dev/null 2>&1 >/dev/null",
	    { "@" } },
	{ "continued lines", "lk-argdump \\\n  --opt={{v}} \\\n  \"{{v}}\"\\\n"
	    "'{{v}}'", { "--opt=@", "@@" } },
};
#define NCONTEXTS (sizeof(contexts) / sizeof(contexts[0]))

/* Every value in one context, with every shell. */
static void
test_context(void **state)
{
	struct shctx *c = *state;
	const struct tctx *x = c->arg;
	char *script;
	size_t i, s;

	for (i = 0; i < NVALUES; i++) {
		script = subst1(x->tmpl, "v", values[i]);
		for (s = 0; s < NSHELLS; s++)
			if (have_shell(shells[s]))
				expect_dump(c, shells[s], script, x->want,
				    values[i]);
		free(script);
	}
}

/* ---- here-documents ----------------------------------------------- */

struct hctx {
	const char	*name;
	const char	*tmpl;
	const char	*want;		/* out.txt, @ for the value */
	const char	*args[2];	/* the witness's arguments */
	int		 strip;		/* <<-: tabs after newlines refused */
};

static const struct hctx bodies[] = {
	{ "<<END", "cat > out.txt <<LK_END\n{{v}}\nLK_END\nlk-argdump ok",
	    "@\n", { "ok" }, 0 },
	{ "<<'END'", "cat > out.txt <<'LK_END'\nx {{v}} y\nLK_END\n"
	    "lk-argdump ok", "x @ y\n", { "ok" }, 0 },
	{ "<<\"END\"", "cat > out.txt <<\"LK_END\"\n$x{{v}}`y`\nLK_END\n"
	    "lk-argdump ok", "$x@`y`\n", { "ok" }, 0 },
	{ "<<\\END", "cat > out.txt <<\\LK_END\n{{v}}\nLK_END\n"
	    "lk-argdump ok", "@\n", { "ok" }, 0 },
	{ "<<-END", "cat > out.txt <<-LK_END\n\t\t{{v}}\n\tLK_END\n"
	    "lk-argdump ok", "@\n", { "ok" }, 1 },
	{ "two bodies", "cat <<A > out.txt; cat <<'B' >> out.txt\n"
	    "a {{v}}\nA\nb {{v}} $x\nB\nlk-argdump ok", "a @\nb @ $x\n",
	    { "ok" }, 0 },
	{ "body, then a word", "cat > out.txt <<LK_END\n{{v}}\nLK_END\n"
	    "lk-argdump {{v}}", "@\n", { "@" }, 0 },
	/*
	 * Where fuzz_subst's checker once read the script otherwise than
	 * the shells: "$$$$" is two pids (sed takes them off), so the value
	 * follows an expansion, not a "$"; a backslash-newline inside "<<"
	 * or before the delimiter is a line continuation, not a quote.
	 */
	{ "$$ before the value", "cat <<LK_END | sed \"1s/^$$$$//\" "
	    ">out.txt\n$$$${{v}}\nLK_END\nlk-argdump ok", "@\n", { "ok" }, 0 },
	{ "<\\<newline><END", "cat > out.txt <\\\n<LK_END\n{{v}}\nLK_END\n"
	    "lk-argdump ok", "@\n", { "ok" }, 0 },
	{ "<<\\<newline>END", "cat > out.txt <<\\\nLK_END\n{{v}}\nLK_END\n"
	    "lk-argdump ok", "@\n", { "ok" }, 0 },
};
#define NBODIES	(sizeof(bodies) / sizeof(bodies[0]))

static void
check_body(struct shctx *c, const struct hctx *x, const char *v)
{
	struct lk_subst_param p = { "v", NULL };
	const char *code = NULL;
	char *out = NULL, *want, *got;
	size_t len, s;
	int r;

	p.value = v;
	r = lk_subst_apply(x->tmpl, &p, 1, NULL, 0, NULL, 0, &out, &code);
	if (x->strip && (v[0] == '\t' || strstr(v, "\n\t") != NULL)) {
		/* The shell would strip those tabs: the value is refused. */
		assert_int_equal(r, LK_ERR_INVALID_FORMAT);
		assert_string_equal(code, LK_SUBST_E_INVALID);
		return;
	}
	if (r != 0)
		fail_msg("apply(%s) = %d (%s)", x->name, r, code);
	for (s = 0; s < NSHELLS; s++) {
		if (!have_shell(shells[s]))
			continue;
		expect_dump(c, shells[s], out, x->args, v);
		got = t_read_file(c->out, &len);
		want = expand(x->want, v);
		if (len != strlen(want) || memcmp(got, want, len) != 0)
			fail_msg("%s: %s: out.txt differs", shells[s], x->name);
		free(got);
		free(want);
	}
	free(out);
}

static void
test_heredoc(void **state)
{
	struct shctx *c = *state;
	size_t i;

	for (i = 0; i < NVALUES; i++)
		check_body(c, c->arg, values[i]);
}

static void
refused_value(const char *tmpl, const char *v)
{
	struct lk_subst_param p = { "v", NULL };
	const char *code = NULL;
	char *out = (char *)1;

	p.value = v;
	if (lk_subst_apply(tmpl, &p, 1, NULL, 0, NULL, 0, &out, &code) !=
	    LK_ERR_INVALID_FORMAT)
		fail_msg("accepted \"%s\" in: %s", v, tmpl);
	assert_null(out);
	assert_string_equal(code, LK_SUBST_E_INVALID);
}

/* A value may not end a here-document early, nor lose bytes in it. */
static void
test_heredoc_terminator(void **state)
{
	const char *q = "cat <<'EOF'\n{{v}}\nEOF\necho done";
	const char *u = "cat <<EOF\n{{v}}\nEOF\necho done";
	const char *t = "cat <<-EOF\n\t{{v}}\n\tEOF\necho done";
	const char *tail = "cat <<'EOF'\n{{v}}EOF\nEOF\n";
	char *out;

	(void)state;
	refused_value(q, "EOF");
	refused_value(q, "x\nEOF\ntouch " CANARY);
	refused_value(u, "EOF");
	refused_value(u, "x\nEOF\ntouch " CANARY "\n");
	refused_value(t, "EOF");
	refused_value(t, "\tEOF");
	refused_value(t, "x\n\tEOF");
	refused_value(tail, "");
	/* A newline in the value would let <<- strip the template's tab. */
	refused_value("cat <<-E\n{{v}}\tx\nE\n", "a\n");
	out = subst1("cat <<-E\n{{v}}\tx\nE\n", "v", "a");
	free(out);
	out = subst1(t, "v", "a\n");
	free(out);
	/* Close is not equal. */
	out = subst1(q, "v", "EOF ");
	free(out);
	out = subst1(q, "v", " EOF");
	free(out);
	out = subst1(u, "v", "EOFx\nxEOF\n\\EOF");
	free(out);
	out = subst1(tail, "v", "x");
	free(out);
}

/*
 * "$${" is $$ (the pid) then "{", not "$" then "${": the here-document
 * below is live, so the value must be escaped for its body. (Found by a
 * differential run against the real shells.)
 */
static void
test_dollar_dollar(void **state)
{
	const char *tmpl = "cat $${x:-y <<LK_END >/dev/null 2>&1\n}{{v}}\n"
	    "LK_END\nlk-argdump ok";
	const char *want[] = { "ok", NULL };
	char *out;
	size_t s;

	out = subst1(tmpl, "v", "`touch " CANARY "`$(touch " CANARY ")");
	for (s = 0; s < NSHELLS; s++)
		if (have_shell(shells[s]))
			expect_dump(*state, shells[s], out, want, NULL);
	free(out);
}

/* ---- the send-key command ----------------------------------------- */

#define SENDKEY	"send_ssh_public_key --username {{username}} " \
		"--ssh-public-key {{sshPublicKey}}"

static void
test_sendkey(void **state)
{
	static const char *const users[] = {
		"root", "alice; touch " CANARY, "$(touch " CANARY ")",
		"`touch " CANARY "`", "a b", "-n", "--ssh-public-key", "",
		"'", "\"", "x\ny", "bob' --ttl '3600",
	};
	static const char *const keys[] = {
		"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH1VbRa3sGzQ2uhu7uQ8cKsz"
		"gmvgVvVdd5zuyAuzXyFm me@host",
		"ssh-rsa AAAA== x'; touch " CANARY "; echo '",
		"ssh-ed25519 AAAA\" $(touch " CANARY ") \"",
		"ssh-ed25519 AAAA\nssh-rsa BBBB second-line",
		"command=\"touch " CANARY "\" ssh-ed25519 AAAA",
		"--username root",
	};
	struct shctx *c = *state;
	struct lk_subst_param p[2];
	const char *code = NULL, *want[5];
	char **names = NULL, *out;
	size_t n, i, j, s;

	assert_int_equal(lk_subst_scan(SENDKEY, &names, &n, &code), 0);
	assert_int_equal(n, 2);
	assert_string_equal(names[0], "username");
	assert_string_equal(names[1], "sshPublicKey");
	lk_subst_names_free(names, n);
	want[0] = "--username";
	want[2] = "--ssh-public-key";
	want[4] = NULL;
	for (i = 0; i < sizeof(users) / sizeof(users[0]); i++) {
		for (j = 0; j < sizeof(keys) / sizeof(keys[0]); j++) {
			/* The console's and the API's spellings alike. */
			p[0].name = (i & 1) ? "UserName" : "username";
			p[0].value = users[i];
			p[1].name = (j & 1) ? "sshpublickey" : "sshPublicKey";
			p[1].value = keys[j];
			assert_int_equal(lk_subst_apply(SENDKEY, p, 2, NULL, 0,
			    NULL, 0, &out, &code), 0);
			want[1] = users[i];
			want[3] = keys[j];
			for (s = 0; s < NSHELLS; s++)
				if (have_shell(shells[s]))
					expect_dump(c, shells[s], out, want, NULL);
			free(out);
		}
	}
}

/* ---- built-in parameters ------------------------------------------ */

static void
test_acs(void **state)
{
	static const struct lk_subst_param env[] = {
		{ "ACS::InstanceId", "i-0123'; touch " CANARY },
		{ "acs::invokeid", "t-$(touch " CANARY ")" },
		{ "ACS::RegionId", "cn-hangzhou" },
	};
	const char *tmpl = "lk-argdump {{ACS::InstanceId}} \"{{ acs::InvokeId"
	    " }}\" '{{ACS::REGIONID}}'";
	const char *want[] = { env[0].value, env[1].value, env[2].value,
	    NULL };
	const char *code = NULL;
	char **names = NULL, *out = NULL;
	size_t n, s;

	assert_int_equal(lk_subst_scan(tmpl, &names, &n, &code), 0);
	assert_int_equal(n, 0);
	assert_null(names);
	assert_int_equal(lk_subst_apply(tmpl, NULL, 0, NULL, 0, env, 3, &out,
	    &code), 0);
	for (s = 0; s < NSHELLS; s++)
		if (have_shell(shells[s]))
			expect_dump(*state, shells[s], out, want, NULL);
	free(out);
	/* Missing from env: the server forgot it. */
	assert_int_equal(lk_subst_apply(tmpl, NULL, 0, NULL, 0, env, 2, &out,
	    &code), LK_ERR_NOT_FOUND);
	assert_string_equal(code, LK_SUBST_E_MISSING);
	/* A caller cannot set a built-in. */
	assert_int_equal(lk_subst_apply(tmpl, env, 1, NULL, 0, env, 3, &out,
	    &code), LK_ERR_INVALID_FORMAT);
	assert_string_equal(code, LK_SUBST_E_NOT_MATCHED);
	/* Unknown built-ins are refused when the command is created. */
	assert_int_equal(lk_subst_scan("echo {{ACS::Password}}", &names, &n,
	    &code), LK_ERR_INVALID_FORMAT);
	assert_string_equal(code, LK_SUBST_E_CONTENT);
}

/* ---- names and limits --------------------------------------------- */

static void
expect_names(const char *tmpl, const char *const *want)
{
	const char *code = "unset";
	char **names = NULL;
	size_t n, i;

	if (lk_subst_scan(tmpl, &names, &n, &code) != 0)
		fail_msg("scan(\"%s\") failed: %s", tmpl, code);
	assert_null(code);
	for (i = 0; want[i] != NULL; i++) {
		assert_true(i < n);
		assert_string_equal(names[i], want[i]);
	}
	assert_int_equal(n, i);
	lk_subst_names_free(names, n);
}

static void
test_scan_names(void **state)
{
	static const char *const none[] = { NULL };
	static const char *const ab[] = { "a", "B-b_2", NULL };
	static const char *const key[] = { "sshPublicKey", "user", NULL };
	static const char *const docker[] = { "name", NULL };

	(void)state;
	expect_names("echo hello", none);
	expect_names("", none);
	expect_names("echo {{a}} {{B-b_2}} {{A}} {{b-B_2}}", ab);
	expect_names("echo {{sshPublicKey}} {{ sshpublickey }} {{\n\tuser\r\n}}"
	    " '{{SSHPUBLICKEY}}'", key);
	/* Not placeholders: other characters, nothing, a lone brace. */
	expect_names("docker inspect -f '{{.State.Running}}' {{name}} "
	    "{{a b}} {{}} {{ }} {{ACS::}} {{name} {name}} {{{name}}}", docker);
	expect_names("{{ACS::InstanceId}} {{ACS::AccountId}} "
	    "{{ACS::InstanceName}} {{ACS::CommandId}}", none);
}

static void
expect_scan_error(const char *tmpl, int r, const char *code)
{
	const char *got = NULL;
	char **names = (char **)1;
	size_t n = 1;

	assert_int_equal(lk_subst_scan(tmpl, &names, &n, &got), r);
	assert_string_equal(got, code);
	assert_null(names);
	assert_int_equal(n, 0);
}

static void
test_scan_limits(void **state)
{
	struct tbuf b = { NULL, 0, 0 };
	char name[LK_SUBST_NAME_MAX + 2], *big_tmpl;
	int i;

	(void)state;
	for (i = 0; i < LK_SUBST_NAMES_MAX; i++) {
		snprintf(name, sizeof(name), "echo {{p%d}} {{P%d}}\n", i, i);
		tbuf_put(&b, name, strlen(name));
	}
	expect_names((char *)b.p, (const char *const[]){ "p0", "p1", "p2",
	    "p3", "p4", "p5", "p6", "p7", "p8", "p9", "p10", "p11", "p12",
	    "p13", "p14", "p15", "p16", "p17", "p18", "p19", NULL });
	tbuf_put(&b, "{{one_more}}", 12);
	expect_scan_error((char *)b.p, LK_ERR_RANGE, LK_SUBST_E_COUNT);
	tbuf_free(&b);

	memset(name, 'n', sizeof(name));
	name[LK_SUBST_NAME_MAX] = '\0';
	tbuf_put(&b, "{{", 2);
	tbuf_put(&b, name, LK_SUBST_NAME_MAX);
	tbuf_put(&b, "}}", 2);
	expect_names((char *)b.p, (const char *const[]){ name, NULL });
	tbuf_free(&b);
	tbuf_put(&b, "{{x", 3);
	tbuf_put(&b, name, LK_SUBST_NAME_MAX);
	tbuf_put(&b, "}}", 2);
	expect_scan_error((char *)b.p, LK_ERR_TOO_LONG, LK_SUBST_E_KEY_LONG);
	tbuf_free(&b);

	assert_non_null(big_tmpl = malloc(LK_SUBST_TEMPLATE_MAX + 2));
	memset(big_tmpl, '#', LK_SUBST_TEMPLATE_MAX + 1);
	big_tmpl[LK_SUBST_TEMPLATE_MAX + 1] = '\0';
	expect_scan_error(big_tmpl, LK_ERR_TOO_LONG, LK_SUBST_E_CONTENT_LONG);
	big_tmpl[LK_SUBST_TEMPLATE_MAX] = '\0';
	expect_names(big_tmpl, (const char *const[]){ NULL });
	free(big_tmpl);
}

/* ---- refused and accepted templates ------------------------------- */

static const struct {
	const char	*tmpl;
	const char	*why;		/* in lk_subst_explain()'s line */
} refused[] = {
	{ "echo {{v}} # {{v}}", "line 1: {{v}} is inside a comment" },
	{ "echo\n  #{{v}}", "line 2: {{v}} is inside a comment" },
	{ "x=1;# {{v}}", "inside a comment" },
	{ "echo `echo {{v}}`", "inside backquotes" },
	{ "echo \"`echo {{v}}`\"", "inside backquotes" },
	{ "echo `echo \\{{v}}`", "inside backquotes" },
	{ "echo $(( {{v}} + 1 ))", "inside arithmetic" },
	{ "(( x = {{v}} ))", "inside arithmetic" },
	{ "for ((i = 0; i < {{v}}; i++)); do :; done", "inside arithmetic" },
	{ "echo $[{{v}}]", "inside arithmetic" },
	{ "echo ${x:-{{v}}}", "inside a parameter expansion" },
	{ "echo \"${x:-{{v}}}\"", "inside a parameter expansion" },
	{ "echo ${x:-\"{{v}}\"}", "inside a parameter expansion" },
	{ "echo ${#{{v}}}", "inside a parameter expansion" },
	{ "echo $'{{v}}'", "inside $'...'" },
	{ "cat <<{{v}}\nx\n", "here-document delimiter" },
	{ "cat << {{v}}\nx\n", "here-document delimiter" },
	{ "cat <<-'E{{v}}'\nx\n", "here-document delimiter" },
	{ "echo ${{v}}", "follows an unquoted $" },
	{ "echo \"${{v}}\"", "follows an unquoted $" },
	{ "cat <<E\n${{v}}\nE\n", "follows an unquoted $" },
	{ "echo \\{{v}}", "follows a backslash" },
	{ "echo \"\\{{v}}\"", "follows a backslash" },
	{ "cat <<E\n\\{{v}}\nE\n", "follows a backslash" },
	{ "[[ {{v}} -eq 1 ]]", "inside [[ ... ]]" },
	{ "if [[ $x == \"{{v}}\" ]]; then :; fi", "inside [[ ... ]]" },
	{ "a[{{v}}]=1", "array subscript" },
	{ "a[\"{{v}}\"]=1", "array subscript" },
	{ "a[$(echo {{v}})]=1", "array subscript" },
	{ "a[ 1 ]={{v}} a[ {{v}} ]=1", "array subscript" },
	{ "x=$(case a in a) echo;; esac)\necho {{v}}",
	    "line 2: {{v}} comes after a case statement inside $(...) (line 1)" },
	{ "x=$(cat <<E\nhi\nE\n)\necho {{v}}", "here-document inside" },
	{ "cat <<E\n$(echo {{v}})\nE\n", "substitution within a here-document" },
	{ "cat <<E\n{{v}} $(echo\n)\nE\n", "newline inside" },
	{ "cat <<E \"a\nb\"\n{{v}}\nE\n", "newline inside" },
	{ "cat <<E\na\\\nE\n{{v}}\nE\n", "backslash-newline" },
	{ "arr=(a b)\necho {{v}}", "( right after a word" },
	{ "shopt -s extglob; case x in @(a|b)) echo {{v}};; esac",
	    "( right after a word" },
	{ "echo '{{v}}", "not closed at its end" },
	{ "echo \"{{v}}", "not closed at its end" },
	{ "echo $(echo {{v}}", "not closed at its end" },
	{ "echo ${ echo; } {{v}}", "${ command; }" },
	{ "echo $'a\\'b' {{v}}'", "backslash inside $'...'" },
	{ "{{ACS::Nope}}", "line 1: {{ACS::Nope}} is not a built-in" },
	/* Line continuations vanish before the shell reads on. */
	{ "echo $\\\n{{v}}", "follows an unquoted $" },
	{ "echo \"$\\\n{{v}}\"", "follows an unquoted $" },
	{ "echo $\\\n'{{v}}'", "inside $'...'" },
	{ "echo $\\\n(\\\n( {{v}} ))", "inside arithmetic" },
	{ "(\\\n( {{v}} ))", "inside arithmetic" },
	{ "echo $\\\n{x:-{{v}}}", "inside a parameter expansion" },
	{ "cat <\\\n<{{v}}\nx\n", "here-document delimiter" },
	{ "cat <<\\\n{{v}}\nx\n", "here-document delimiter" },
	{ "echo a \\\n# {{v}}", "inside a comment" },
	{ "x=$(ca\\\nse a in a) :;; esac)\n{{v}}", "case statement" },
	/* bash drops a final backslash once a value spans lines. */
	{ "if true; then echo {{v}}; fi\\", "ends with a backslash" },
	{ "echo {{v}} \"a\\", "ends with a backslash" },
	{ "cat <<E\n{{v}}\nx\\", "ends with a backslash" },
};

static const char *const accepted[] = {
	"echo $# {{v}}",
	"echo a#b {{v}} ${#x} $(( 1 )) `date`",
	"x=1 # comment with '\" and $(\necho {{v}}",
	"f() { echo {{v}}; }",
	"case $1 in a) echo {{v}};; (b) echo {{v}};; esac",
	"cat <<'E'\n$(not run) `nor this` {{v}}\nE\necho {{v}}",
	"cat <<E; echo {{v}}\nbody $HOME\nE\n",
	"echo {{v}} $(( 1 + 2 ))",
	"x=$(case a in a) echo;; esac)",
	"echo \"$'{{v}}'\" \"${x:-a}\"",
	"((1))#c {{\necho {{v}}",
	"a[1]=x; echo {{v}}",
	"echo {{v}} >out <in 2>&1 <<<{{v}}",
	"cat <(echo {{v}})",
	"docker inspect -f '{{.Id}}' {{v}}",
	"echo {{v}} \\\\",			/* an escaped backslash */
	"cat <<'E'\n{{v}}\nx\\",	/* literal in a quoted body */
	"echo {{v}} 'x\\'",
	"echo '$\\\n{{v}}'",		/* no continuation in '...' */
	"# a comment \\\necho {{v}}",	/* nor in a comment */
	"cat <<'E'\n$\\\n{{v}}\nE\n",	/* nor in a quoted body */
};

static void
test_refused_templates(void **state)
{
	const char *code;
	char **names = NULL, msg[256];
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		code = NULL;
		if (lk_subst_scan(refused[i].tmpl, &names, &n, &code) !=
		    LK_ERR_INVALID_FORMAT)
			fail_msg("accepted: %s", refused[i].tmpl);
		assert_string_equal(code, LK_SUBST_E_CONTENT);
		lk_subst_explain(refused[i].tmpl, msg, sizeof(msg));
		if (strstr(msg, refused[i].why) == NULL)
			fail_msg("\"%s\" for: %s", msg, refused[i].tmpl);
	}
	for (i = 0; i < sizeof(accepted) / sizeof(accepted[0]); i++) {
		if (lk_subst_scan(accepted[i], &names, &n, &code) != 0)
			fail_msg("refused: %s (%s)", accepted[i], code);
		lk_subst_names_free(names, n);
		lk_subst_explain(accepted[i], msg, sizeof(msg));
		assert_string_equal(msg, "");
	}
	lk_subst_explain("{{ACS::Nope}}", msg, 8);
	assert_string_equal(msg, "line 1:");
}

/* Scripts without placeholders pass through untouched, whatever they do. */
static void
test_passthrough(void **state)
{
	static const char *const scripts[] = {
		"", "echo hi", "x=$(case a in a) echo;; esac)\necho `date`",
		"echo '", "cat <<E\n$(\n)\nE\n", "echo ${x:-{a}}",
	};
	const char *code = NULL;
	char *out;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(scripts) / sizeof(scripts[0]); i++) {
		assert_int_equal(lk_subst_apply(scripts[i], NULL, 0, NULL, 0,
		    NULL, 0, &out, &code), 0);
		assert_string_equal(out, scripts[i]);
		free(out);
	}
}

/* ---- values: required, defaults, unknown, duplicate, limits ------- */

static int
apply(const char *tmpl, const struct lk_subst_param *v, size_t n,
    const struct lk_subst_param *d, size_t nd, char **outp,
    const char **codep)
{
	*codep = NULL;
	*outp = NULL;
	return lk_subst_apply(tmpl, v, n, d, nd, NULL, 0, outp, codep);
}

static void
test_apply_params(void **state)
{
	const char *tmpl = "echo {{user}} {{Port}} {{user}}";
	struct lk_subst_param v[LK_SUBST_VALS_MAX + 1], d[2];
	char key[LK_SUBST_NAME_MAX + 2], *out, *bigv;
	const char *code;
	size_t i;

	(void)state;
	v[0].name = "USER";
	v[0].value = "a b";
	v[1].name = "port";
	v[1].value = "22";
	assert_int_equal(apply(tmpl, v, 2, NULL, 0, &out, &code), 0);
	assert_string_equal(out, "echo 'a b' '22' 'a b'");
	free(out);
	/* Required unless there is a default; a value beats the default. */
	assert_int_equal(apply(tmpl, v, 1, NULL, 0, &out, &code),
	    LK_ERR_NOT_FOUND);
	assert_string_equal(code, LK_SUBST_E_MISSING);
	assert_null(out);
	d[0].name = "PORT";
	d[0].value = "2222";
	d[1].name = "user";
	d[1].value = NULL;		/* declared without a default */
	assert_int_equal(apply(tmpl, v, 1, d, 2, &out, &code), 0);
	assert_string_equal(out, "echo 'a b' '2222' 'a b'");
	free(out);
	assert_int_equal(apply(tmpl, v + 1, 1, d, 2, &out, &code),
	    LK_ERR_NOT_FOUND);
	assert_int_equal(apply(tmpl, v, 2, d, 2, &out, &code), 0);
	assert_string_equal(out, "echo 'a b' '22' 'a b'");
	free(out);
	/* Empty values are values. */
	v[1].value = "";
	assert_int_equal(apply(tmpl, v, 2, NULL, 0, &out, &code), 0);
	assert_string_equal(out, "echo 'a b' '' 'a b'");
	free(out);
	/* Unknown and duplicate keys. */
	v[2].name = "other";
	v[2].value = "x";
	assert_int_equal(apply(tmpl, v, 3, NULL, 0, &out, &code),
	    LK_ERR_INVALID_FORMAT);
	assert_string_equal(code, LK_SUBST_E_NOT_MATCHED);
	v[2].name = "";
	assert_int_equal(apply(tmpl, v, 3, NULL, 0, &out, &code),
	    LK_ERR_INVALID_FORMAT);
	assert_string_equal(code, LK_SUBST_E_NOT_MATCHED);
	v[2].name = "User";
	assert_int_equal(apply(tmpl, v, 3, NULL, 0, &out, &code),
	    LK_ERR_INVALID_FORMAT);
	assert_string_equal(code, LK_SUBST_E_DUPLICATE);
	v[2].value = NULL;
	assert_int_equal(apply(tmpl, v, 3, NULL, 0, &out, &code),
	    LK_ERR_INVALID_FORMAT);
	assert_string_equal(code, LK_SUBST_E_INVALID);
	/* Key length and count. */
	memset(key, 'k', sizeof(key));
	key[LK_SUBST_NAME_MAX + 1] = '\0';
	v[2].name = key;
	v[2].value = "x";
	assert_int_equal(apply(tmpl, v, 3, NULL, 0, &out, &code),
	    LK_ERR_TOO_LONG);
	assert_string_equal(code, LK_SUBST_E_KEY_LONG);
	for (i = 0; i <= LK_SUBST_VALS_MAX; i++) {
		v[i].name = "user";
		v[i].value = "x";
	}
	assert_int_equal(apply(tmpl, v, LK_SUBST_VALS_MAX + 1, NULL, 0, &out,
	    &code), LK_ERR_RANGE);
	assert_string_equal(code, LK_SUBST_E_COUNT);
	/* Value sizes and the size of the script. */
	assert_non_null(bigv = malloc(LK_SUBST_VALUE_MAX + 2));
	memset(bigv, '\'', LK_SUBST_VALUE_MAX + 1);
	bigv[LK_SUBST_VALUE_MAX + 1] = '\0';
	v[0].name = "user";
	v[0].value = bigv;
	v[1].name = "port";
	v[1].value = "1";
	assert_int_equal(apply(tmpl, v, 2, NULL, 0, &out, &code),
	    LK_ERR_TOO_LONG);
	assert_string_equal(code, LK_SUBST_E_INVALID);
	bigv[LK_SUBST_VALUE_MAX] = '\0';
	assert_int_equal(apply("echo {{user}} {{port}}", v, 2, NULL, 0, &out,
	    &code), 0);
	assert_int_equal(strlen(out), 5 + 4 * LK_SUBST_VALUE_MAX + 2 + 4);
	free(out);
	assert_int_equal(apply(tmpl, v, 2, NULL, 0, &out, &code),
	    LK_ERR_TOO_LONG);
	assert_string_equal(code, LK_SUBST_E_CONTENT_LONG);
	free(bigv);
	/* A refused template is refused at apply time too. */
	assert_int_equal(apply("# {{user}}", v, 1, NULL, 0, &out, &code),
	    LK_ERR_INVALID_FORMAT);
	assert_string_equal(code, LK_SUBST_E_CONTENT);
}

static void
test_check_value(void **state)
{
	const char *code;
	char *v;

	(void)state;
	assert_int_equal(lk_subst_check_value("abc", 3, &code), 0);
	assert_null(code);
	assert_int_equal(lk_subst_check_value("", 0, &code), 0);
	assert_int_equal(lk_subst_check_value("a\0b", 3, &code),
	    LK_ERR_BAD_CHAR);
	assert_string_equal(code, LK_SUBST_E_INVALID);
	assert_non_null(v = calloc(1, LK_SUBST_VALUE_MAX + 1));
	memset(v, 'x', LK_SUBST_VALUE_MAX + 1);
	assert_int_equal(lk_subst_check_value(v, LK_SUBST_VALUE_MAX, &code), 0);
	assert_int_equal(lk_subst_check_value(v, LK_SUBST_VALUE_MAX + 1,
	    &code), LK_ERR_TOO_LONG);
	assert_string_equal(code, LK_SUBST_E_INVALID);
	free(v);
}

#define NFIXED	10

int
main(int argc, char **argv)
{
	static char names[NCONTEXTS + NBODIES][64];
	const char *base = strrchr(argv[0], '/');
	struct CMUnitTest tests[NFIXED + NCONTEXTS + NBODIES] = {
		cmocka_unit_test(test_scan_names),
		cmocka_unit_test(test_scan_limits),
		cmocka_unit_test(test_refused_templates),
		cmocka_unit_test(test_passthrough),
		cmocka_unit_test(test_apply_params),
		cmocka_unit_test(test_check_value),
		cmocka_unit_test(test_heredoc_terminator),
		cmocka_unit_test_setup_teardown(test_sendkey, sh_setup,
		    sh_teardown),
		cmocka_unit_test_setup_teardown(test_acs, sh_setup,
		    sh_teardown),
		cmocka_unit_test_setup_teardown(test_dollar_dollar, sh_setup,
		    sh_teardown),
	};
	struct CMUnitTest *t;
	ssize_t n;
	size_t i;

	base = base != NULL ? base + 1 : argv[0];
	if (strcmp(base, "lk-argdump") == 0 ||
	    strcmp(base, "send_ssh_public_key") == 0)
		return dump_main(argc, argv);
	if ((n = readlink("/proc/self/exe", self_exe,
	    sizeof(self_exe) - 1)) <= 0)
		return 1;
	self_exe[n] = '\0';
	for (i = 0; i < LK_SUBST_VALUE_MAX; i++)
		big[i] = (char)(1 + i % 255);
	for (i = 0; i < 255; i++)
		allbytes[i] = (char)(i + 1);
	/* One test per context: every value, every shell. */
	for (i = 0; i < NCONTEXTS + NBODIES; i++) {
		t = &tests[NFIXED + i];
		if (i < NCONTEXTS) {
			snprintf(names[i], sizeof(names[i]), "context %s",
			    contexts[i].name);
			t->test_func = test_context;
			t->initial_state = (void *)(uintptr_t)&contexts[i];
		} else {
			snprintf(names[i], sizeof(names[i]), "here-document %s",
			    bodies[i - NCONTEXTS].name);
			t->test_func = test_heredoc;
			t->initial_state = (void *)(uintptr_t)
			    &bodies[i - NCONTEXTS];
		}
		t->name = names[i];
		t->setup_func = sh_setup;
		t->teardown_func = sh_teardown;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
