/*
 * pv_list.h - intrusive lists, linked through a member of the element (the
 * elements' memory is the caller's): a doubly linked list with O(1)
 * removal, and a FIFO. PV_CONTAINER_OF turns a link back into its element.
 */
#ifndef PV_LIST_H
#define PV_LIST_H

#include <stddef.h>

#define PV_CONTAINER_OF(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* ---- doubly linked list (newest first) -------------------------------- */

struct pv_dlink {
    struct pv_dlink *prev, *next;
};

struct pv_dlist {
    struct pv_dlink *head;
    int n;
};

static inline void pv_dlist_push(struct pv_dlist *l, struct pv_dlink *x)
{
    x->prev = NULL;
    x->next = l->head;
    if (l->head)
        l->head->prev = x;
    l->head = x;
    l->n++;
}

/* x must be in l. */
static inline void pv_dlist_remove(struct pv_dlist *l, struct pv_dlink *x)
{
    if (x->prev)
        x->prev->next = x->next;
    else
        l->head = x->next;
    if (x->next)
        x->next->prev = x->prev;
    x->prev = x->next = NULL;
    l->n--;
}

/* ---- FIFO --------------------------------------------------------------- */

struct pv_slink {
    struct pv_slink *next;
};

struct pv_fifo {
    struct pv_slink *head, *tail; /* oldest, newest */
    int n;
};

static inline void pv_fifo_push(struct pv_fifo *f, struct pv_slink *x)
{
    x->next = NULL;
    if (f->tail)
        f->tail->next = x;
    else
        f->head = x;
    f->tail = x;
    f->n++;
}

/* The oldest element, removed; NULL when f is empty. */
static inline struct pv_slink *pv_fifo_pop(struct pv_fifo *f)
{
    struct pv_slink *x = f->head;
    if (x) {
        f->head = x->next;
        if (!f->head)
            f->tail = NULL;
        f->n--;
    }
    return x;
}

#endif /* PV_LIST_H */
