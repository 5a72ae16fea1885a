/* The 8042 keyboard controller and its two PS/2 devices (drivers/kbd.c, drivers/mouse.c). */
#ifndef PYOS_I8042_H
#define PYOS_I8042_H

#include <stddef.h>
#include <stdint.h>

#define I8042_DATA 0x60
#define I8042_STATUS 0x64   /* read */
#define I8042_COMMAND 0x64  /* write */

#define I8042_ST_OBF 0x01   /* output buffer full: a byte waits at 0x60 */
#define I8042_ST_IBF 0x02   /* input buffer full: the controller has not taken our byte yet */
#define I8042_ST_AUXB 0x20  /* the byte at 0x60 is from the mouse */

#define I8042_CFG_KBD_INT 0x01
#define I8042_CFG_AUX_INT 0x02
#define I8042_CFG_SYS 0x04
#define I8042_CFG_KBD_OFF 0x10
#define I8042_CFG_AUX_OFF 0x20
#define I8042_CFG_XLAT 0x40

#define IRQ_KBD 1
#define IRQ_MOUSE 12

/* Controller helpers (drivers/kbd.c); every wait is bounded: -1 on timeout. */
int i8042_command(uint8_t cmd);
int i8042_write(uint8_t byte);              /* a byte to 0x60 */
int i8042_read(void);                       /* the next byte, polled */
int i8042_aux_command(uint8_t byte);        /* D4 + byte; returns the mouse's first reply */
void i8042_drain(void);                     /* IRQ 1 / IRQ 12: route waiting bytes */

int kbd_init(void);                         /* 0: controller found and keyboard ready */
void kbd_byte(uint8_t byte);                /* a set-1 scan-code byte from the controller */
extern uint8_t kbd_leds;                    /* bit 0 scroll, 1 num, 2 caps lock */

int mouse_init(void);                       /* after kbd_init: 0 when a mouse answered */
void mouse_byte(uint8_t byte);
long mouse_read(char *buf, size_t len);     /* whole struct pyos_mouse_event records; blocks */
extern int mouse_present;

#endif
