// The UI's shared state (one object, read and written by the view modules).
export const PAGE = 60;
export const state = {
  query: '',
  weight: 0.7,        // the server's default until the first answer says otherwise
  weightSet: false,   // true once the user moved the slider (or ?w= was given)
  similar: null,      // {key, name} when showing "similar to"
  results: [],
  total: 0,           // size of the whole ordered set (all pages)
  view: 'library',    // 'library' (no query), 'search', 'similar'
  page: 'photos',     // the page shown: 'photos', 'duplicates', 'failures', 'settings'
  sortLib: '-date',   // the library's order (newest first: a timeline)
  sortSearch: 'relevance',
  loadingMore: false,
  emptyMsg: null,     // the server's explanation of an empty answer
  stats: null,
  statsAt: 0,         // when the stats were last read (ms since epoch)
  offline: false,     // the server did not answer the last request
  build: null,
  lat: [],            // client-side recent latencies (ms)
  seq: 0,
  searching: false,
  lbIndex: -1,
  tooLong: null,      // the message when the query is over the server's limit
  needToken: false,
};
export const curSort = () => (state.view === 'library' ? state.sortLib : state.sortSearch);
// The query limit: /api/stats limits.query_bytes, else the documented 1000.
export const queryLimit = () => (state.stats && state.stats.queryBytes) || 1000;
