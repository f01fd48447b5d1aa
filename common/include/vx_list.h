/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vx_list.h: intrusive circular doubly linked list. A zeroed node is not a valid list head:
 * call vx_list_init() first. A node may sit on one list through one embedded vx_list member.
 */
#ifndef VX_LIST_H
#define VX_LIST_H

#include <stdbool.h>
#include <stddef.h>

#include "vx_compiler.h"

struct vx_list {
	struct vx_list *next;
	struct vx_list *prev;
};

static inline void vx_list_init(struct vx_list *h)
{
	h->next = h;
	h->prev = h;
}

static inline bool vx_list_empty(const struct vx_list *h)
{
	return h->next == h;
}

static inline void vx__list_insert(struct vx_list *n, struct vx_list *prev, struct vx_list *next)
{
	n->next = next;
	n->prev = prev;
	prev->next = n;
	next->prev = n;
}

/* Adds @n at the tail of @h. */
static inline void vx_list_add_tail(struct vx_list *h, struct vx_list *n)
{
	vx__list_insert(n, h->prev, h);
}

/* Adds @n at the head of @h. */
static inline void vx_list_add(struct vx_list *h, struct vx_list *n)
{
	vx__list_insert(n, h, h->next);
}

/* Removes @n from its list and leaves it self-linked, so a second delete is harmless. */
static inline void vx_list_del(struct vx_list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->next = n;
	n->prev = n;
}

#define vx_list_entry(ptr, type, member) vx_container_of(ptr, type, member)
#define vx_list_first(h, type, member)	 vx_list_entry((h)->next, type, member)

#define vx_list_for_each(pos, h) for (pos = (h)->next; pos != (h); pos = pos->next)
#define vx_list_for_each_safe(pos, tmp, h) \
	for (pos = (h)->next, tmp = pos->next; pos != (h); pos = tmp, tmp = pos->next)

#endif /* VX_LIST_H */
