/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ctl_cbor_int.h: the table-driven CBOR-map codec behind vx_ctl_msg.h and vx_api_msg.h. A
 * protocol describes its message struct once (struct cb_schema): where the header fields live,
 * every key with its kind, limit and place in the struct, and the keys each message type must
 * carry. The engine encodes and decodes any such struct; the two protocols only hold tables.
 */
#ifndef VX_CTL_CBOR_INT_H
#define VX_CTL_CBOR_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vx_ctl_cbor.h"

enum cb_kind {
	CB_U16 = 1,
	CB_U32,
	CB_U64,
	CB_I64,
	CB_BOOL,
	CB_TEXT,
	CB_TASK_ID, /* text: exactly 64 lowercase hex */
	CB_BYTES,   /* byte string; its length lives at off_nr (uint32_t) */
	CB_BASE,    /* a u32 sent only beside a present @bit with a non-zero value, no own bit */
	CB_TEXTS,   /* array of text, each <= item_max; count at off_nr */
	CB_TUPLES,  /* array of fixed arrays (struct cb_tuple); count at off_nr */
	CB_PAIRS,   /* map of 2-field tuples (key field, value field); count at off_nr */
	/* tuple fields only, for structs that hold C strings (struct vx_download_task): */
	CB_ID_BUF, /* text: exactly 64 lowercase hex, in a char[VX_TASK_ID_LEN + 1] */
	CB_CSTR,   /* text: a const char * (NULL sends ""); decoded copies live in the array */
};

/* A scalar: a key's value, or one field of a tuple (off from the tuple's start). */
struct cb_field {
	uint8_t kind;	  /* CB_U16 ... CB_TASK_ID, CB_ID_BUF, CB_CSTR */
	size_t off;	  /* offset in the message (or the tuple element) */
	uint64_t max;	  /* largest value, or longest string in bytes */
	uint64_t min_neg; /* CB_I64: -min_neg < value, i.e. min_neg 1 allows only -1 */
};

struct cb_tuple {
	const struct cb_field *fields;
	uint32_t nr;
	size_t size; /* bytes of one element struct */
};

struct cb_key {
	uint8_t key;
	uint64_t bit;	   /* presence bit in the message's has; CB_BASE: the partner's */
	struct cb_field f; /* kind, offset, max (count max for arrays), min_neg */
	size_t off_nr;	   /* CB_BYTES, CB_TEXTS, CB_TUPLES, CB_PAIRS: uint32_t count */
	uint64_t item_max; /* CB_TEXTS: longest string */
	const struct cb_tuple *tuple; /* CB_TUPLES, CB_PAIRS */
};

struct cb_schema {
	const struct cb_key *keys;
	size_t nr_keys;
	const uint64_t *required; /* per type: bits a request or event must carry */
	uint32_t type_nr;	  /* types are 1 .. type_nr - 1 */
	uint32_t event_type;	  /* the one type of an event frame */
	uint64_t status_bit;	  /* what a response must carry */
	size_t size;		  /* sizeof the message struct */
	size_t off_tag, off_type, off_rid, off_version, off_has, off_owns;
	/* true when @type may travel in @tag (beyond the event rule); NULL: any */
	bool (*type_ok)(uint8_t tag, uint32_t type);
};

/* The header fields of a message struct @T named as in both protocols (tag, type, rid...). */
#define CB_SCHEMA_HEADER(T)                                                            \
	.size = sizeof(T), .off_tag = offsetof(T, tag), .off_type = offsetof(T, type), \
	.off_rid = offsetof(T, rid), .off_version = offsetof(T, version),              \
	.off_has = offsetof(T, has), .off_owns = offsetof(T, owns_arrays)

ssize_t vx__cb_encode(const struct cb_schema *s, const void *m, uint8_t *buf, size_t cap);
int vx__cb_decode(const struct cb_schema *s, uint8_t tag, const uint8_t *val, size_t len,
		  void *out);
void vx__cb_release(const struct cb_schema *s, void *m);

#endif /* VX_CTL_CBOR_INT_H */
