/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What rxe_migros needs from the C RDMA core and networking that the kernel
 * crate's bindings do not cover. bindgen reads this file (tools/gen-bindings.sh);
 * the prototypes at the end are one-line shims (shim.c) for static inline
 * functions and macros that bindgen cannot reach.
 */
#include <linux/netdevice.h>
#include <linux/if_vlan.h>
#include <linux/notifier.h>
#include <rdma/ib_verbs.h>
#include <rdma/ib_cache.h>
#include <rdma/ib_umem.h>
#include <rdma/ib_umem_odp.h>
#include <linux/hmm.h>
#include <linux/mmu_notifier.h>
#include <rdma/ib_mad.h>
#include <rdma/rdma_netlink.h>
#include <rdma/uverbs_ioctl.h>
#include <rdma/uverbs_types.h>
#include <net/udp_tunnel.h>
#include <net/net_namespace.h>
#include <linux/skbuff.h>
#include <linux/vmalloc.h>
#include <linux/mm.h>
#include <linux/highmem.h>
#include <linux/scatterlist.h>
#include <linux/bottom_half.h>
#include <net/route.h>
#include <net/ip.h>
#include <net/ipv6.h>
#include <net/addrconf.h>
#include <linux/igmp.h>
#include <linux/inetdevice.h>
#include <linux/rtnetlink.h>
#include <net/dst.h>
#include <linux/sched/task.h>
#include <linux/sched/signal.h>
#include <linux/sched/exec_state.h>
#include <linux/cred.h>
/*
 * ib_uverbs' own objects (ib_ucq_object, ib_uqp_object), for the counts of
 * events it has handed a process: a checkpoint must keep them and a
 * restore must give them back, or libibverbs waits forever when the
 * restored process destroys a CQ or QP. Not an exported header: its
 * layout is that of the kernel this module is built against.
 */
#include <../drivers/infiniband/core/uverbs.h>
/*
 * struct rdma_umap_priv, the core's record of a user mapping: ours are
 * registered with rdma_umap_priv_init(), which the core exports for it, so
 * that the core can zap them when the device goes away.
 */
#include <../drivers/infiniband/core/core_priv.h>

struct net_device *rxe_migros_netdev_notifier_info_to_dev(void *info);
void rxe_migros_task_lock(struct task_struct *t);
void rxe_migros_task_unlock(struct task_struct *t);
const struct cred *rxe_migros_current_cred(void);
struct task_exec_state *rxe_migros_task_exec_state(struct task_struct *t);
void rxe_migros_cond_resched(void);
bool rxe_migros_fatal_signal_pending(void);
void rxe_migros_dev_put(struct net_device *ndev);
struct in_device *rxe_migros_in_dev_get_rtnl(const struct net_device *ndev);
bool rxe_migros_is_vlan_dev(const struct net_device *ndev);
enum ib_port_state rxe_migros_port_state(struct net_device *ndev);
void rxe_migros_ib_mark_name_assigned_by_user(struct ib_device *dev);
const char *rxe_migros_netdev_name(const struct net_device *ndev);
unsigned int rxe_migros_netdev_mtu(const struct net_device *ndev);
bool rxe_migros_netdev_mac(const struct net_device *ndev, u8 *mac);
struct net *rxe_migros_dev_net(const struct net_device *ndev);
struct net_device *rxe_migros_skb_dev(const struct sk_buff *skb);
int rxe_migros_skb_linearize(struct sk_buff *skb);
u8 *rxe_migros_skb_network_header(const struct sk_buff *skb);
unsigned int rxe_migros_skb_network_len(const struct sk_buff *skb);
void rxe_migros_kfree_skb(struct sk_buff *skb);
struct sk_buff *rxe_migros_skb_clone(struct sk_buff *skb);
void *rxe_migros_vmalloc_user(unsigned long size);
struct ib_ucontext *rxe_migros_udata_ucontext(struct ib_udata *udata);
struct ib_udata *rxe_migros_attrs_udata(struct uverbs_attr_bundle *attrs);
struct sk_buff *rxe_migros_alloc_skb(unsigned int size);
unsigned int rxe_migros_ll_reserved_space(const struct net_device *ndev);
void rxe_migros_skb_reserve(struct sk_buff *skb, int len);
void rxe_migros_skb_reset_network_header(struct sk_buff *skb);
void rxe_migros_skb_set_transport_header(struct sk_buff *skb, int offset);
void rxe_migros_skb_set_dev_proto(struct sk_buff *skb, struct net_device *ndev, __be16 proto);
void rxe_migros_skb_dst_set_clone(struct sk_buff *skb, struct dst_entry *dst);
void rxe_migros_skb_queue_head_init(struct sk_buff_head *list);
void rxe_migros_skb_queue_purge(struct sk_buff_head *list);
u32 rxe_migros_skb_queue_len(const struct sk_buff_head *list);
struct page *rxe_migros_sg_page_iter_page(struct sg_page_iter *iter);
void *rxe_migros_kmap_local_page(struct page *page);
void rxe_migros_kunmap_local(const void *addr);
bool rxe_migros_mmu_notifier_range_blockable(const struct mmu_notifier_range *range);
void rxe_migros_mmu_interval_set_seq(struct mmu_interval_notifier *sub, unsigned long seq);
struct page *rxe_migros_hmm_pfn_to_page(unsigned long hmm_pfn);
void rxe_migros_mutex_lock(struct mutex *lock);
void rxe_migros_local_bh_disable(void);
void rxe_migros_local_bh_enable(void);
int rxe_migros_dst_error(const struct dst_entry *dst);
int rxe_migros_netdev_ifindex(const struct net_device *ndev);
