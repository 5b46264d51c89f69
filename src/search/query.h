// The query language: ONE parser for the CLI, the HTTP API and the UI (which
// sends the box's text as it is). The grammar is docs/search.md; in short:
//
//   query  := part (space part)*
//   part   := [sign] ( '"' phrase '"' | key ':' value | word )     sign := '-' | '+'
//   value  := '"' text '"' | non-space text
//
// Free words and "phrases" are the semantic + keyword query (text); a phrase
// must also occur as a phrase in the keyword text. -word and -"phrase" drop
// images whose keyword text has them. key:value parts are filters (AND-ed;
// -key:value negates one); like:ID, +like:ID and -like:ID add or subtract an
// image's vector from the query's (rclip-style arithmetic). Keys are
// case-insensitive ASCII; a part whose text before the first ':' is two or
// more ASCII letters is a key, and an unknown key is an error. Quote a word
// with a colon ("re:union") to search for it.
//
// Every error is LISA_EINVAL with a message that quotes the offending part
// and says what was expected; nothing is silently ignored.
#ifndef LISA_SEARCH_QUERY_H
#define LISA_SEARCH_QUERY_H

#include "store/store.h"

#include <stdint.h>

typedef struct kw kw;

#define QUERY_TEXT_MAX 4096 // bytes of query text; more is refused
#define QUERY_LIKES_MAX 16  // like: parts
#define QUERY_NEAR_KM 10.0  // near: radius when none is given

typedef struct {
    char *text;     // positive free words and phrases, space-joined, for CLIP and keywords ("" none; owned)
    int n_words;    // free words + phrases in text
    store_filter f; // filters, phrase requirements and exclusions (the one predicate)
    int n_filters;  // key:value filters in f (the rest are keyword clauses)
    int n_like;
    struct {
        int64_t id;
        int sign; // +1 add, -1 subtract
    } like[QUERY_LIKES_MAX];
} query;

// Parses text (UTF-8, borrowed) into *out (malloc'd, caller query_free()s).
// k cleans phrase and exclusion words exactly as the index does. On error
// *out is NULL and the message names the part.
int query_parse(kw *k, const char *text, query **out);
void query_free(query *q);

// 1 when q has something to rank by (free words or like: parts); 0 when it
// only filters (a listing).
int query_ranks(const query *q);

#endif
