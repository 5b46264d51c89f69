#ifndef LISA_BASE_CLOCK_H
#define LISA_BASE_CLOCK_H

// The monotonic clock (CLOCK_MONOTONIC): for durations and deadlines, never
// for dates.
double mono_s(void);  // seconds
double mono_ms(void); // milliseconds

#endif
