/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_top.c: `vx top`, a live view of the local daemon refreshed every second: totals and
 * rates (peers versus origins), then its tasks with progress bars, running ones first. On a
 * terminal it takes the alternate screen and reads keys unbuffered; q, Ctrl-C or SIGTERM end
 * it and the terminal is restored as it was. Not on a terminal it prints plain lines, one
 * block a second. -n N stops after N refreshes.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "commands.h"
#include "observe.h"
#include "vx_time.h"

static const char top_usage[] =
	"usage: vx top [--socket PATH] [--metrics HOST:PORT] [-n N]\n\n"
	"A live view of the local daemon, refreshed every second: rates from peers and from\n"
	"origins, uploads, and its tasks with progress. q or Ctrl-C quits. Not on a terminal,\n"
	"plain lines. -n N: stop after N refreshes.\n";

static volatile sig_atomic_t top_stop;

static void on_signal(int sig)
{
	(void)sig;
	top_stop = 1;
}

struct screen {
	bool tty;
	struct termios saved;
	unsigned cols, rows;
};

static void screen_size(struct screen *sc)
{
	struct winsize ws;

	sc->cols = 100;
	sc->rows = 30;
	if (sc->tty && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col && ws.ws_row) {
		sc->cols = ws.ws_col;
		sc->rows = ws.ws_row;
	}
}

static int screen_open(struct screen *sc)
{
	struct termios raw;

	sc->tty = isatty(STDOUT_FILENO) && isatty(STDIN_FILENO);
	if (!sc->tty)
		return 0;
	if (tcgetattr(STDIN_FILENO, &sc->saved))
		return -errno;
	raw = sc->saved;
	raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
	raw.c_cc[VMIN] = 0;
	raw.c_cc[VTIME] = 0;
	if (tcsetattr(STDIN_FILENO, TCSANOW, &raw))
		return -errno;
	fputs("\033[?1049h\033[?25l", stdout); /* alternate screen, cursor hidden */
	fflush(stdout);
	return 0;
}

static void screen_close(struct screen *sc)
{
	if (!sc->tty)
		return;
	fputs("\033[?25h\033[?1049l", stdout);
	fflush(stdout);
	(void)tcsetattr(STDIN_FILENO, TCSANOW, &sc->saved);
}

static const char *const state_names[] = { "pending", "running", "done", "failed" };

/* Running tasks first, then pending, failed, done. */
static int task_rank(const struct vx_obs_task *t)
{
	static const int rank[] = { 1, 0, 3, 2 };

	return (unsigned)t->state < 4 ? rank[t->state] : 4;
}

static int task_cmp(const void *a, const void *b)
{
	return task_rank(a) - task_rank(b);
}

/* Bytes per second of task @t since the previous sample (pieces finished times their size). */
static double task_rate(const struct vx_obs_sample *prev, const struct vx_obs_sample *s,
			const struct vx_obs_task *t)
{
	if (s->at_ms <= prev->at_ms)
		return 0;
	for (uint32_t i = 0; i < prev->nr_tasks; i++) {
		const struct vx_obs_task *p = &prev->tasks[i];

		if (strcmp(p->id, t->id) == 0 && t->done >= p->done && t->pieces && t->length > 0)
			return (double)(t->done - p->done) * ((double)t->length / t->pieces) *
			       1000.0 / (double)(s->at_ms - prev->at_ms);
	}
	return 0;
}

static void draw(const struct screen *sc, const struct vx_obs_opts *o,
		 const struct vx_obs_sample *prev, struct vx_obs_sample *s)
{
	double peers = vx_obs_rate(prev, s, VX_OBS_FROM_PEERS);
	double origin = vx_obs_rate(prev, s, VX_OBS_FROM_ORIGIN);
	double up = vx_obs_rate(prev, s, VX_OBS_UPLOADED);
	double tp = (double)s->c[VX_OBS_FROM_PEERS], to = (double)s->c[VX_OBS_FROM_ORIGIN];
	unsigned bar = sc->cols > 60 ? 20 : 10, shown = 0, pfill;
	char a[32], b[32], c[32], line[1024];

	if (sc->tty)
		fputs("\033[H\033[2J", stdout);
	vx_cli_human(a, sizeof(a), peers);
	vx_cli_human(b, sizeof(b), origin);
	vx_cli_human(c, sizeof(c), up);
	if (s->daemon_rc)
		printf("vx top: daemon not answering on %s: %s\n", o->t.socket, s->daemon_msg);
	else
		printf("vx top: %u tasks, %lld active | down %s/s peers, %s/s origin | up %s/s\n",
		       s->nr_tasks, (long long)s->c[VX_OBS_ACTIVE], a, b, c);
	vx_cli_human(a, sizeof(a), tp);
	vx_cli_human(b, sizeof(b), to);
	pfill = tp + to > 0 ? (unsigned)(tp * bar / (tp + to) + 0.5) : 0;
	printf("peers vs origin [");
	for (unsigned i = 0; i < bar; i++)
		putchar(i < pfill ? 'P' : '.');
	printf("] %s from peers, %s from origins%s\n", a, b,
	       s->metrics_ok ? "" : " (metrics endpoint not answering)");
	printf("%-12s %-7s %-*s %6s %10s %10s  %s\n", "TASK", "STATE", (int)bar + 2, "PROGRESS",
	       "DONE", "SIZE", "RATE", "URL");
	qsort(s->tasks, s->nr_tasks, sizeof(s->tasks[0]), task_cmp);
	for (uint32_t i = 0; i < s->nr_tasks && (!sc->tty || shown + 5 < sc->rows); i++) {
		const struct vx_obs_task *t = &s->tasks[i];
		unsigned pct = t->pieces ? t->done * 100u / t->pieces : 0u, fill = pct * bar / 100;
		int n = 0;

		if (!sc->tty && t->state == VX_DOWNLOAD_TASK_DONE)
			continue; /* plain lines: what moves */
		vx_cli_human(a, sizeof(a), t->length < 0 ? 0 : (double)t->length);
		vx_cli_human(b, sizeof(b), task_rate(prev, s, t));
		n += snprintf(line + n, sizeof(line) - (size_t)n, "%.12s %-7s [", t->id,
			      (unsigned)t->state < 4 ? state_names[t->state] : "?");
		for (unsigned k = 0; k < bar && n < (int)sizeof(line) - 1; k++)
			line[n++] = k < fill ? '#' : '-';
		snprintf(line + n, sizeof(line) - (size_t)n, "] %5u%% %10s %8s/s  %s", pct, a, b,
			 t->url);
		if (sc->tty && strlen(line) > sc->cols)
			line[sc->cols] = '\0';
		puts(line);
		shown++;
	}
	if (!sc->tty)
		putchar('\n');
	fflush(stdout);
}

/* Waits up to @ms for q (terminal) or a signal; true when it is time to stop. */
static bool wait_key(const struct screen *sc, int ms)
{
	struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
	uint64_t end = vx_now_ms() + (uint64_t)ms;
	char ch;

	while (!top_stop) {
		uint64_t now = vx_now_ms();

		if (now >= end)
			return false;
		if (!sc->tty) {
			(void)poll(NULL, 0, (int)(end - now));
			continue;
		}
		if (poll(&p, 1, (int)(end - now)) > 0) {
			ssize_t n = read(STDIN_FILENO, &ch, 1);

			if (n == 0 || (n == 1 && (ch == 'q' || ch == 'Q' || ch == 3)))
				return true;
		}
	}
	return true;
}

static int run_top(int argc, char **argv)
{
	struct vx_obs_opts o = { 0 };
	struct sigaction sa = { 0 };
	struct vx_obs_sample *s = calloc(2, sizeof(*s));
	struct screen sc = { 0 };
	long ticks = 0;
	int rc, cur = 0;

	if (!s)
		return VX_EXIT_FAILURE;
	rc = vx_obs_opts_parse(argc, argv, "vx top", top_usage, &o);
	if (rc) {
		free(s);
		return rc > 0 ? VX_EXIT_OK : VX_EXIT_USAGE;
	}
	sa.sa_handler = on_signal; /* no SA_RESTART: poll() returns at once */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (screen_open(&sc)) {
		fprintf(stderr, "vx top: cannot set up the terminal\n");
		free(s);
		return VX_EXIT_FAILURE;
	}
	vx_obs_sample(&o.t, &s[1]);
	while (!top_stop) {
		vx_obs_sample(&o.t, &s[cur]);
		screen_size(&sc);
		draw(&sc, &o, &s[1 - cur], &s[cur]);
		cur = 1 - cur;
		if (o.iterations && ++ticks >= o.iterations)
			break;
		if (wait_key(&sc, 1000))
			break;
	}
	screen_close(&sc);
	free(s);
	return VX_EXIT_OK;
}

const struct vx_command vx_command_top = {
	.name = "top",
	.summary = "a live view of the local daemon: tasks, progress, rates, peers vs origin",
	.run = run_top,
};
