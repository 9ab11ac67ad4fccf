/* kbs demo firmware: prints its configuration, then "blinks". */
#include "autoconf.h"

#ifdef CONFIG_ARCH_HOST
#include <stdio.h>
int main(void) {
    printf("demo firmware for %s: blink %d ms", CONFIG_BOARD_NAME, CONFIG_BLINK_PERIOD_MS);
#ifdef CONFIG_ENABLE_SERIAL
    printf(", serial %d baud", CONFIG_SERIAL_BAUD);
#endif
#ifdef CONFIG_FEATURE_FAN
    printf(", %d fan(s)", CONFIG_FAN_COUNT);
#endif
    printf("\n");
    return 0;
}
#else
/* Bare-metal: a vector table and a busy loop the linker keeps. */
volatile unsigned int ticks;
const char banner[] = "demo firmware for " CONFIG_BOARD_NAME;
void reset_handler(void) {
    for (;;) {
        for (volatile int i = 0; i < CONFIG_BLINK_PERIOD_MS * 1000; i++) {}
        ticks++;
    }
}
__attribute__((section(".vectors"), used)) void (*const vectors[2])(void) = {
    (void (*)(void))0x20001000, reset_handler,
};
#endif
