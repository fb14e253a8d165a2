/*
 * The DPDK API stickwire uses, as one header for bindgen and for the C shim that wraps
 * DPDK's `static inline` functions (rte_eth_rx_burst, rte_pktmbuf_alloc, ...).
 *
 * Built against DPDK 22.11 LTS (Debian 12 `libdpdk-dev`). `rte_thash.h` gives `rte_softrss`, the
 * software Toeplitz hash the tests check the switch's own (`wire::rss`) against.
 */
#ifndef STICKWIRE_DPDK_H
#define STICKWIRE_DPDK_H

#include <rte_config.h>
#include <rte_common.h>
#include <rte_version.h>
#include <rte_errno.h>
#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_cycles.h>
#include <rte_dev.h>
#include <rte_bus_vdev.h>
#include <rte_mempool.h>
#include <rte_mbuf.h>
#include <rte_ethdev.h>
#include <rte_hash.h>
#include <rte_thash.h>

/*
 * `rte_errno` is a macro over a thread-local variable, which Rust cannot name through FFI:
 * read it through a function (wrapped like DPDK's own static inline functions).
 */
static inline int stickwire_rte_errno(void)
{
	return rte_errno;
}

#endif /* STICKWIRE_DPDK_H */
