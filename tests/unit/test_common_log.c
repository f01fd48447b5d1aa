/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_common_log.c: the JSON log line (vx_log.h, --log-format json) stays one whole JSON
 * object whatever the message holds: a message of control characters (each six bytes escaped,
 * far past the line's room) with a request id still ends in the closing quote and brace, so a
 * log shipper never gets half an object. dragonfly-behaviour.md section 5.5 item 2 (logs).
 */
#include "vx_test.h"

#include <string.h>
#include <unistd.h>

#include "vx_log.h"

/* One log line at @level with @msg (and request id @rid, NULL none) into @out. */
static size_t line_of(const char *msg, const char *rid, char *out, size_t cap)
{
	int fds[2];
	ssize_t n;

	assert_int_equal(pipe(fds), 0);
	vx_log_set_fd(fds[1]);
	vx_log_set_format(VX_LOG_JSON);
	vx_log_set_request_id(rid);
	vx_log(VX_LOG_ERROR, "%s", msg);
	vx_log_set_request_id(NULL);
	vx_log_set_format(VX_LOG_TEXT);
	vx_log_set_fd(2);
	close(fds[1]);
	n = read(fds[0], out, cap - 1);
	close(fds[0]);
	assert_true(n > 0);
	out[n] = '\0';
	return (size_t)n;
}

static void test_vx_log__json_line_whole_with_request_id(void **state)
{
	char msg[1024], out[4096];
	const char *rid = "0123456789abcdef0123456789abcdef";
	size_t n;

	(void)state;
	assert_int_equal(strlen(rid), VX_REQUEST_ID_MAX);
	/* every alignment of the six-byte escapes against the end of the line's room */
	for (size_t plain = 0; plain < 6; plain++) {
		memset(msg, 0x01, sizeof(msg) - 1);
		memset(msg, 'x', plain);
		msg[sizeof(msg) - 1] = '\0';
		n = line_of(msg, rid, out, sizeof(out));
		assert_true(n >= 3);
		assert_string_equal(out + n - 3, "\"}\n");
		assert_non_null(
			strstr(out, "\"request_id\":\"0123456789abcdef0123456789abcdef\"}"));
	}
	/* a short one is whole too, and a message cannot forge a key */
	n = line_of("x\",\"level\":\"info", rid, out, sizeof(out));
	assert_string_equal(out + n - 3, "\"}\n");
	assert_non_null(strstr(out, "x\\\",\\\"level"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vx_log__json_line_whole_with_request_id),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
