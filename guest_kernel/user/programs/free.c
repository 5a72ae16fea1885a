/*
 * free: physical memory in 4 KiB frames (total, used, free, from the frame
 * allocator plugin) and the kernel heap (bytes in use, the frames it holds,
 * allocations and frees), in KiB where it is memory.
 */
#include <ulib.h>

int main(void)
{
    struct pyos_sysinfo info;
    int r = sysinfo(&info);
    if (r < 0) {
        warn_err("free", "sysinfo", -r);
        return 1;
    }
    unsigned long used = info.total_frames - info.free_frames;
    printf("%-6s %10s %10s %10s  %s\n", "", "total", "used", "free", "(KiB)");
    printf("%-6s %10lu %10lu %10lu  frames: %lu of %lu free, allocator '%s'\n", "Mem:", info.total_frames * 4,
           used * 4, info.free_frames * 4, info.free_frames, info.total_frames, info.frame_allocator);
    printf("%-6s %10lu %10lu %10s  heap '%s': %lu bytes in use, %lu allocations, %lu frees\n", "Heap:",
           info.heap_frames * 4, (info.heap_bytes_in_use + 1023) / 1024, "-", info.heap, info.heap_bytes_in_use,
           info.heap_allocs, info.heap_frees);
    printf("%-6s %10lu %10s %10s  page-table pages allocated since boot\n", "Paging:", info.page_tables * 4, "-",
           "-");
    return 0;
}
