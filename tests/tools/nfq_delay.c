/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nfq_delay QUEUE MS: holds every packet of netfilter queue QUEUE for MS milliseconds, then
 * accepts it (a fixed one-way delay, as netem's "delay MS" would add, for kernels without
 * sch_netem; issue 18 "Network faults"). Packets leave in the order they came. Used by
 * tests/integration/peer_netns.sh:
 *
 *   ip netns exec NS nfq_delay 0 100 &
 *   ip netns exec NS iptables -A OUTPUT -o IF -j NFQUEUE --queue-num 0 --queue-bypass
 *
 * Prints "ready" on stdout once the queue is bound; runs until SIGTERM or SIGINT, then prints
 * how many packets it delayed. Only the packet id and arrival time are kept (copy mode META),
 * in a ring of NFQ_DELAY_MAX entries; a packet that finds the ring full is accepted at once
 * (counted as "overflow"), so the delayer never holds more than that.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <sys/socket.h>
#include <linux/netfilter.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

#define NFQ_DELAY_MAX 65536

struct held {
	uint32_t id;
	uint64_t due_us; /* microseconds: whole milliseconds would release up to 1 ms early */
};

static struct held ring[NFQ_DELAY_MAX];
static uint32_t head, count;
static uint64_t delay_ms, delayed, overflow;
static volatile sig_atomic_t stop;

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg, struct nfq_data *nfa, void *arg)
{
	struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);
	uint32_t id;

	(void)msg;
	(void)arg;
	if (!ph)
		return 0;
	id = ntohl(ph->packet_id);
	if (count == NFQ_DELAY_MAX) {
		overflow++;
		return nfq_set_verdict(qh, id, NF_ACCEPT, 0, NULL);
	}
	ring[(head + count) % NFQ_DELAY_MAX] = (struct held){ id, now_us() + delay_ms * 1000 };
	count++;
	return 0;
}

/* Accepts every held packet whose time has come; returns the wait in ms (rounded up) until
 * the next, or -1. */
static int release_due(struct nfq_q_handle *qh)
{
	uint64_t now = now_us();

	while (count > 0 && ring[head].due_us <= now) {
		if (nfq_set_verdict(qh, ring[head].id, NF_ACCEPT, 0, NULL) < 0)
			fprintf(stderr, "nfq_delay: verdict for packet %u: %s\n", ring[head].id,
				strerror(errno));
		head = (head + 1) % NFQ_DELAY_MAX;
		count--;
		delayed++;
	}
	return count > 0 ? (int)((ring[head].due_us - now + 999) / 1000) : -1;
}

int main(int argc, char **argv)
{
	struct nfq_handle *h;
	struct nfq_q_handle *qh;
	struct sigaction sa;
	char buf[65536] __attribute__((aligned));
	char *end;
	unsigned long queue;
	int fd;

	if (argc != 3) {
		fprintf(stderr, "usage: nfq_delay QUEUE MS\n");
		return 2;
	}
	queue = strtoul(argv[1], &end, 10);
	if (*end || queue > 65535) {
		fprintf(stderr, "nfq_delay: bad queue number %s\n", argv[1]);
		return 2;
	}
	delay_ms = strtoull(argv[2], &end, 10);
	if (*end || delay_ms > 60000) {
		fprintf(stderr, "nfq_delay: bad delay %s (milliseconds, at most 60000)\n", argv[2]);
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	h = nfq_open();
	if (!h) {
		fprintf(stderr, "nfq_delay: nfq_open: %s\n", strerror(errno));
		return 1;
	}
	qh = nfq_create_queue(h, (uint16_t)queue, on_packet, NULL);
	if (!qh || nfq_set_mode(qh, NFQNL_COPY_META, 0) < 0) {
		fprintf(stderr, "nfq_delay: queue %lu: %s\n", queue, strerror(errno));
		nfq_close(h);
		return 1;
	}
	(void)nfq_set_queue_maxlen(qh, NFQ_DELAY_MAX);
	fd = nfq_fd(h);
	printf("ready\n");
	fflush(stdout);
	while (!stop) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int wait = release_due(qh);
		ssize_t n;

		if (poll(&p, 1, wait < 0 || wait > 200 ? 200 : wait) <= 0)
			continue;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n > 0)
			nfq_handle_packet(h, buf, (int)n);
		else if (n < 0 && errno == ENOBUFS)
			fprintf(stderr, "nfq_delay: the kernel dropped queued packets (ENOBUFS)\n");
	}
	/* what is still held goes out now: nothing is left queued behind a dead delayer */
	delay_ms = 0;
	for (uint32_t i = 0; i < count; i++)
		ring[(head + i) % NFQ_DELAY_MAX].due_us = 0;
	(void)release_due(qh);
	printf("nfq_delay: %llu packets delayed %s ms, %llu accepted at once (ring full)\n",
	       (unsigned long long)delayed, argv[2], (unsigned long long)overflow);
	nfq_destroy_queue(qh);
	nfq_close(h);
	return 0;
}
