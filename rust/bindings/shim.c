// SPDX-License-Identifier: GPL-2.0
/*
 * One-line shims for static inline functions and macros that bindgen cannot
 * reach. No logic lives here: each forwards to the C function it names.
 */
#include "rdma_helper.h"

struct net_device *rxe_migros_netdev_notifier_info_to_dev(void *info) { return netdev_notifier_info_to_dev(info); }
void rxe_migros_dev_put(struct net_device *ndev) { dev_put(ndev); }
struct in_device *rxe_migros_in_dev_get_rtnl(const struct net_device *ndev) { return __in_dev_get_rtnl(ndev); }
void rxe_migros_task_lock(struct task_struct *t) { task_lock(t); }
void rxe_migros_task_unlock(struct task_struct *t) { task_unlock(t); }
const struct cred *rxe_migros_current_cred(void) { return current_cred(); }
struct task_exec_state *rxe_migros_task_exec_state(struct task_struct *t) { return rcu_dereference(t->exec_state); }
void rxe_migros_cond_resched(void) { cond_resched(); }
bool rxe_migros_fatal_signal_pending(void) { return fatal_signal_pending(current); }
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
struct sk_buff *rxe_migros_skb_clone(struct sk_buff *skb) { return skb_clone(skb, GFP_ATOMIC); }
void *rxe_migros_vmalloc_user(unsigned long size) { return vmalloc_user(size); }
struct ib_ucontext *rxe_migros_udata_ucontext(struct ib_udata *udata) { return container_of(udata, struct uverbs_attr_bundle, driver_udata)->context; }
struct ib_udata *rxe_migros_attrs_udata(struct uverbs_attr_bundle *attrs) { return attrs ? &attrs->driver_udata : NULL; }
struct sk_buff *rxe_migros_alloc_skb(unsigned int size) { return alloc_skb(size, GFP_ATOMIC); }
unsigned int rxe_migros_ll_reserved_space(const struct net_device *ndev) { return LL_RESERVED_SPACE(ndev); }
void rxe_migros_skb_reserve(struct sk_buff *skb, int len) { skb_reserve(skb, len); }
void rxe_migros_skb_reset_network_header(struct sk_buff *skb) { skb_reset_network_header(skb); }
void rxe_migros_skb_set_transport_header(struct sk_buff *skb, int offset) { skb_set_transport_header(skb, offset); }
void rxe_migros_skb_set_dev_proto(struct sk_buff *skb, struct net_device *ndev, __be16 proto) { skb->dev = ndev; skb->protocol = proto; }
void rxe_migros_skb_dst_set_clone(struct sk_buff *skb, struct dst_entry *dst) { skb_dst_set(skb, dst_clone(dst)); }
void rxe_migros_skb_queue_head_init(struct sk_buff_head *list) { skb_queue_head_init(list); }
void rxe_migros_skb_queue_purge(struct sk_buff_head *list) { skb_queue_purge(list); }
u32 rxe_migros_skb_queue_len(const struct sk_buff_head *list) { return skb_queue_len_lockless(list); }
struct page *rxe_migros_sg_page_iter_page(struct sg_page_iter *iter) { return sg_page_iter_page(iter); }
void *rxe_migros_kmap_local_page(struct page *page) { return kmap_local_page(page); }
void rxe_migros_kunmap_local(const void *addr) { kunmap_local(addr); }
bool rxe_migros_mmu_notifier_range_blockable(const struct mmu_notifier_range *range) { return mmu_notifier_range_blockable(range); }
void rxe_migros_mmu_interval_set_seq(struct mmu_interval_notifier *sub, unsigned long seq) { mmu_interval_set_seq(sub, seq); }
struct page *rxe_migros_hmm_pfn_to_page(unsigned long hmm_pfn) { return hmm_pfn_to_page(hmm_pfn); }
void rxe_migros_mutex_lock(struct mutex *lock) { mutex_lock(lock); }
void rxe_migros_local_bh_disable(void) { local_bh_disable(); }
void rxe_migros_local_bh_enable(void) { local_bh_enable(); }
int rxe_migros_dst_error(const struct dst_entry *dst) { return dst->error; }
int rxe_migros_netdev_ifindex(const struct net_device *ndev) { return ndev->ifindex; }
