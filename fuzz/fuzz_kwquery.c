// libFuzzer target: kw_query(), the user-text -> FTS5 MATCH expression
// builder. Whatever the input, the expression it returns must be one FTS5
// accepts: each result is run against an in-memory FTS5 table, and a syntax
// error from SQLite aborts the run.
#include "search/keywords.h"

#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static kw *g_kw;
static sqlite3 *g_db;
static sqlite3_stmt *g_q;

static void init(void)
{
    if (kw_new(&g_kw) < 0) abort();
    if (sqlite3_open(":memory:", &g_db) != SQLITE_OK) abort();
    const char *sql = "CREATE VIRTUAL TABLE t USING fts5(name, meta, caption, ocr);"
                      "INSERT INTO t VALUES ('dog beach', 'sunset', 'run', 'and or not near');";
    if (sqlite3_exec(g_db, sql, NULL, NULL, NULL) != SQLITE_OK) abort();
    if (sqlite3_prepare_v2(g_db, "SELECT rowid, bm25(t) FROM t WHERE t MATCH ?", -1, &g_q, NULL) != SQLITE_OK) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_kw) init();
    if (size > 4096) return 0;
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    char *m = NULL;
    int rc = kw_query(g_kw, text, &m);
    free(text);
    if (rc < 0 || !m) {
        free(m);
        return 0;
    }
    sqlite3_bind_text(g_q, 1, m, -1, SQLITE_TRANSIENT);
    int st;
    while ((st = sqlite3_step(g_q)) == SQLITE_ROW) {}
    if (st != SQLITE_DONE) {
        fprintf(stderr, "kw_query gave an expression FTS5 refuses: [%s]: %s\n", m, sqlite3_errmsg(g_db));
        abort();
    }
    sqlite3_reset(g_q);
    free(m);
    return 0;
}
