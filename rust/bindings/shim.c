// SPDX-License-Identifier: GPL-2.0
/*
 * One-line shims for static inline functions and macros that bindgen cannot
 * reach. No logic lives here: each forwards to the C function it names.
 */
#include "rdma_helper.h"

struct net_device *rxe_migros_netdev_notifier_info_to_dev(void *info) { return netdev_notifier_info_to_dev(info); }
void rxe_migros_dev_put(struct net_device *ndev) { dev_put(ndev); }
bool rxe_migros_is_vlan_dev(const struct net_device *ndev) { return is_vlan_dev(ndev); }
enum ib_port_state rxe_migros_port_state(struct net_device *ndev) { return ib_get_curr_port_state(ndev); }
void rxe_migros_ib_mark_name_assigned_by_user(struct ib_device *dev) { ib_mark_name_assigned_by_user(dev); }
const char *rxe_migros_netdev_name(const struct net_device *ndev) { return netdev_name(ndev); }
unsigned int rxe_migros_netdev_mtu(const struct net_device *ndev) { return READ_ONCE(ndev->mtu); }
bool rxe_migros_netdev_mac(const struct net_device *ndev, u8 *mac) { return ndev->addr_len >= ETH_ALEN && (ether_addr_copy(mac, ndev->dev_addr), true); }
