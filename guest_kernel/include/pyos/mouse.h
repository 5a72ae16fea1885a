/*
 * Mouse events as user programs read them from /dev/mouse (user ABI):
 * read() returns whole records, at least one (it blocks until the mouse moves).
 * Directions are the screen's: dx > 0 right, dy > 0 down, dz > 0 wheel towards
 * the user (PS/2 counts Y upwards; the driver flips it).
 */
#ifndef PYOS_MOUSE_H
#define PYOS_MOUSE_H

#include <stdint.h>

#define MOUSE_LEFT 0x01
#define MOUSE_RIGHT 0x02
#define MOUSE_MIDDLE 0x04
#define MOUSE_X_OVERFLOW 0x01
#define MOUSE_Y_OVERFLOW 0x02

struct pyos_mouse_event {
    int16_t dx;
    int16_t dy;
    int8_t dz;
    uint8_t buttons;    /* MOUSE_LEFT | MOUSE_RIGHT | MOUSE_MIDDLE */
    uint8_t flags;      /* MOUSE_X_OVERFLOW | MOUSE_Y_OVERFLOW */
    uint8_t reserved;
};

#endif
