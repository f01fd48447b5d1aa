/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_time.h: clocks. Monotonic time for deadlines and rates, wall time for records.
 */
#ifndef VX_TIME_H
#define VX_TIME_H

#include <stdint.h>
#include <time.h>

/* Monotonic nanoseconds since an arbitrary start. */
static inline uint64_t vx_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t vx_now_ms(void)
{
	return vx_now_ns() / 1000000ull;
}

/* Wall-clock Unix seconds. */
static inline int64_t vx_wall_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec;
}

#endif /* VX_TIME_H */
