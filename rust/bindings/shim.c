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
struct net *rxe_migros_dev_net(const struct net_device *ndev) { return dev_net(ndev); }
struct net_device *rxe_migros_skb_dev(const struct sk_buff *skb) { return skb->dev; }
int rxe_migros_skb_linearize(struct sk_buff *skb) { return skb_linearize(skb); }
u8 *rxe_migros_skb_network_header(const struct sk_buff *skb) { return skb_network_header(skb); }
unsigned int rxe_migros_skb_network_len(const struct sk_buff *skb) { return skb_tail_pointer(skb) - skb_network_header(skb); }
void rxe_migros_kfree_skb(struct sk_buff *skb) { kfree_skb(skb); }
void *rxe_migros_vmalloc_user(unsigned long size) { return vmalloc_user(size); }
void *rxe_migros_vma_private(const struct vm_area_struct *vma) { return vma->vm_private_data; }
void rxe_migros_vma_set_ops(struct vm_area_struct *vma, const struct vm_operations_struct *ops, void *priv) { vma->vm_ops = ops; vma->vm_private_data = priv; }
struct ib_ucontext *rxe_migros_udata_ucontext(struct ib_udata *udata) { return container_of(udata, struct uverbs_attr_bundle, driver_udata)->context; }
struct ib_udata *rxe_migros_attrs_udata(struct uverbs_attr_bundle *attrs) { return attrs ? &attrs->driver_udata : NULL; }
