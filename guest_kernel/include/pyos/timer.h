/* Time: the PIT tick and the TSC calibrated against PIT counter 2. */
#ifndef PYOS_TIMER_H
#define PYOS_TIMER_H

#include <stdint.h>

#define PIT_HZ 1193182

void pit_init(uint32_t hz);      /* counter 0 in mode 2 at hz, IRQ 0 */
uint64_t tsc_calibrate(void);    /* TSC kHz, measured against counter 2 */

extern volatile uint64_t ticks;  /* timer interrupts since pit_init */
extern uint32_t timer_hz;
extern uint64_t tsc_khz;

void tsc_delay_us(uint64_t us);  /* busy-wait (interrupts may run) */
uint64_t tsc_to_us(uint64_t cycles);

#endif
