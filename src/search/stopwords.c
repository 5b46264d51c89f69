// The English stop-word list of the keyword pipeline: function words that
// carry no search meaning (articles, pronouns, auxiliaries, prepositions and
// the fragments that apostrophes leave: "don't" -> "don" "t"). Chosen for
// image search: no content words such as "photo" or "picture". Kept sorted
// (bytewise) for bsearch; tests/test_keywords.c checks the order.
#include "search/keywords.h"

#include <stdlib.h>
#include <string.h>

static const char *const stop[] = {
    "a",      "about",   "above", "after",   "again",   "against",  "all",        "am",         "an",     "and",
    "any",    "are",     "aren",  "as",      "at",      "be",       "because",    "been",       "before", "being",
    "below",  "between", "both",  "but",     "by",      "can",      "cannot",     "could",      "couldn", "d",
    "did",    "didn",    "do",    "does",    "doesn",   "doing",    "don",        "down",       "during", "each",
    "few",    "for",     "from",  "further", "had",     "hadn",     "has",        "hasn",       "have",   "haven",
    "having", "he",      "her",   "here",    "hers",    "herself",  "him",        "himself",    "his",    "how",
    "i",      "if",      "in",    "into",    "is",      "isn",      "it",         "its",        "itself", "just",
    "ll",     "m",       "ma",    "me",      "might",   "more",     "most",       "must",       "mustn",  "my",
    "myself", "no",      "nor",   "not",     "now",     "o",        "of",         "off",        "on",     "once",
    "only",   "or",      "other", "ought",   "our",     "ours",     "ourselves",  "out",        "over",   "own",
    "re",     "s",       "same",  "shan",    "she",     "should",   "shouldn",    "so",         "some",   "such",
    "t",      "than",    "that",  "the",     "their",   "theirs",   "them",       "themselves", "then",   "there",
    "these",  "they",    "this",  "those",   "through", "to",       "too",        "under",      "until",  "up",
    "us",     "ve",      "very",  "was",     "wasn",    "we",       "were",       "weren",      "what",   "when",
    "where",  "which",   "while", "who",     "whom",    "why",      "will",       "with",       "won",    "would",
    "wouldn", "y",       "you",   "your",    "yours",   "yourself", "yourselves",
};

static int cmp(const void *k, const void *e)
{
    return strcmp(k, *(const char *const *)e);
}

int kw_is_stopword(const char *word)
{
    return word && bsearch(word, stop, sizeof stop / sizeof stop[0], sizeof stop[0], cmp) != NULL;
}

int kw__stopword_count(void)
{
    return (int)(sizeof stop / sizeof stop[0]);
}

const char *kw__stopword(int i)
{
    return i >= 0 && i < kw__stopword_count() ? stop[i] : NULL;
}
