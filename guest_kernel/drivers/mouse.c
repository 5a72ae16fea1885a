/*
 * The PS/2 mouse on the 8042's second port.
 *
 * mouse_init() (called by kbd_init with the controller's interrupts off)
 * enables the port, resets the mouse (FA AA 00), knocks for the IntelliMouse
 * wheel (sample rates 200, 100, 80, then an ID of 3 means 4-byte packets)
 * and enables streaming. Bytes then come by IRQ 12 (i8042_drain routes them
 * here) and are assembled into packets: the first byte must have bit 3 set,
 * so a byte lost or doubled is found and the stream resynchronises on the
 * next plausible first byte. Each packet becomes a struct pyos_mouse_event in
 * a ring that /dev/mouse reads (mouse_read).
 */
#include <pyos/i8042.h>
#include <pyos/irq.h>
#include <pyos/kernel.h>
#include <pyos/mouse.h>
#include <pyos/string.h>
#include <pyos/syscall_nr.h>
#include <pyos/task.h>
#include <pyos/x86.h>

#define ACK 0xfa
#define EVENTS 64

int mouse_present;
static int packet_size = 3;
static uint8_t packet[4];
static int have;
static struct pyos_mouse_event events[EVENTS];
static volatile uint32_t ev_head, ev_tail;
static int mouse_channel;
uint64_t mouse_packets, mouse_resyncs;

static int set_rate(uint8_t rate)
{
    return i8042_aux_command(0xf3) == ACK && i8042_aux_command(rate) == ACK ? 0 : -1;
}

int mouse_init(void)
{
    i8042_command(0xa8);  /* enable the second port */
    if (i8042_aux_command(0xff) != ACK) {
        printk("mouse: no PS/2 mouse answered\n");
        return -1;
    }
    int bat = i8042_read(), id = i8042_read();
    if (bat != 0xaa || id != 0) {
        printk("mouse: reset answered %d %d, not AA 00\n", bat, id);
        return -1;
    }
    if (set_rate(200) == 0 && set_rate(100) == 0 && set_rate(80) == 0 &&
        i8042_aux_command(0xf2) == ACK && i8042_read() == 3)
        packet_size = 4;
    set_rate(100);
    if (i8042_aux_command(0xf4) != ACK) {
        printk("mouse: enable reporting was not acknowledged\n");
        return -1;
    }
    mouse_present = 1;
    printk("mouse: PS/2 %s, %d-byte packets\n", packet_size == 4 ? "IntelliMouse (wheel)" : "mouse",
           packet_size);
    return 0;
}

void mouse_byte(uint8_t byte)
{
    if (have == 0 && !(byte & 0x08)) {
        mouse_resyncs++;  /* not a first byte: skip until one comes */
        return;
    }
    packet[have++] = byte;
    if (have < packet_size)
        return;
    have = 0;
    uint8_t b0 = packet[0];
    int dx = packet[1] - ((b0 << 4) & 0x100);   /* 9-bit two's complement: sign in b0 bit 4 */
    int dy = packet[2] - ((b0 << 3) & 0x100);   /* sign in b0 bit 5 */
    struct pyos_mouse_event e = {
        .dx = (int16_t)dx,
        .dy = (int16_t)-dy,  /* PS/2 counts up; the screen counts down */
        .dz = packet_size == 4 ? (int8_t)packet[3] : 0,
        .buttons = b0 & 7,
        .flags = ((b0 & 0x40) ? MOUSE_X_OVERFLOW : 0) | ((b0 & 0x80) ? MOUSE_Y_OVERFLOW : 0),
    };
    mouse_packets++;
    if (ev_head - ev_tail < EVENTS)
        events[ev_head++ % EVENTS] = e;  /* else dropped: nobody is reading */
    task_wakeup(&mouse_channel);
}

long mouse_read(char *buf, size_t len)
{
    size_t size = sizeof(struct pyos_mouse_event);
    if (len < size)
        return -EINVAL;
    while (ev_tail == ev_head)
        task_block(&mouse_channel);
    size_t n = 0;
    while (n + size <= len && ev_tail != ev_head) {
        memcpy(buf + n, &events[ev_tail++ % EVENTS], size);
        n += size;
    }
    return (long)n;
}
