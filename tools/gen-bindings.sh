#!/bin/bash
# Generate rust/bindings/rdma_bindings.rs from rust/bindings/rdma_helper.h with
# the exact bindgen command the kernel used for its own bindings (Kbuild keeps
# it in rust/bindings/.bindings_generated.rs.cmd), so that types match.
# Runs inside the build chroot: gen-bindings.sh KDIR
set -euo pipefail
KDIR=$(realpath "$1")
HERE=$(cd "$(dirname "$0")/.." && pwd)
HDR=$HERE/rust/bindings/rdma_helper.h
OUT=$HERE/rust/bindings/rdma_bindings.rs
CMDFILE=$KDIR/rust/bindings/.bindings_generated.rs.cmd
[ -f "$CMDFILE" ] || { echo "error: $CMDFILE missing: is $KDIR a built kernel with CONFIG_RUST?" >&2; exit 1; }

cmd=$(sed -n 's/^savedcmd_rust\/bindings\/bindings_generated.rs := //p' "$CMDFILE")
cmd=${cmd%%; sed*}
cmd=${cmd//\$(pound)/#}
# Modules may not enable #![feature(cfi_encoding)], which these attributes need.
cmd=$(sed -E 's/--with-attribute-custom-enum=[^ ]+//g' <<<"$cmd")

# Only what the header adds: the rest comes from kernel::bindings, so the two
# sets of types are one.
allow=(
	--no-recursive-allowlist
	--allowlist-function 'rxe_migros_.*|uverbs_uobject_fd_release|register_pernet_subsys|unregister_pernet_subsys|remap_vmalloc_range|vfree|ib_.*|_ib_.*|rdma_.*|udp_sock_create.*|setup_udp_tunnel_sock|udp_tunnel.*|register_netdevice_notifier|unregister_netdevice_notifier|netif_get_flags|ip_local_out|ip6_local_out|ip_route_output_flow|ip6_dst_lookup_flow|dst_release|dev_mc_add|dev_mc_del|rtnl_lock|rtnl_unlock|ip_mc_inc_group|__ip_mc_dec_group|ipv6_dev_mc_inc|ipv6_dev_mc_dec'
	--allowlist-type 'netdev_cmd|ib_.*|rdma_.*|uverbs_.*|iw_.*|opa_.*|udp_port_cfg|udp_tunnel_.*|roce_ah_attr|irq_poll.*|uapi_definition|tph_mem_type|rdmacg_device|port_pkey_state|hw_stats_.*|dim.*|auto_mode_param|ifla_vf_.*|packed_ulong|iphdr|rtable|ip_tunnel_key|dst_cache.*|pernet_operations|task_exec_state|task_dumpable|roce_netdev_callback|roce_netdev_filter|nldev_callback|hmm_dma_map|hmm_pfn_flags'
	--allowlist-var 'IB_.*|RDMA_.*|IBK_.*|init_net'
	# Only ever behind a pointer, between two calls into C.
	--allowlist-type in_device --opaque-type in_device
)
args=$(printf '%q ' "${allow[@]}")
cmd=${cmd/bindgen rust\/bindings\/bindings_helper.h/bindgen $HDR $args}
cmd=${cmd/-o rust\/bindings\/bindings_generated.rs/-o $OUT.tmp}
cmd=${cmd/-Wp,-MMD,rust\/bindings\/.bindings_generated.rs.d/}
cd "$KDIR" && eval "$cmd"
# Without rustfmt in the chroot bindgen writes one line; break it between
# items so that compiler messages stay readable.
sed -E -e 's/ (# \[repr|unsafe extern "C" \{|pub const |pub type |impl )/\n\1/g' "$OUT.tmp" >"$OUT"
rm -f "$OUT.tmp"
