/**
 * The kernel's rtnetlink numbers that patchcord uses (linux/if_link.h, if_addr.h, rtnetlink.h,
 * veth.h, if.h), in one place for the requests we write and the replies we read.
 */
export const IFLA = { ADDRESS: 1, IFNAME: 3, MTU: 4, LINK: 5, MASTER: 10, OPERSTATE: 16, LINKINFO: 18, GROUP: 27, NET_NS_FD: 28, PROMISCUITY: 30 } as const;
export const IFLA_INFO = { KIND: 1, DATA: 2, SLAVE_KIND: 4, SLAVE_DATA: 5 } as const;
export const VETH_INFO_PEER = 1;
export const IFLA_BR_VLAN_FILTERING = 7;
export const IFLA_MACVLAN_MODE = 1;
export const IFLA_IPVLAN = { MODE: 1, FLAGS: 2 } as const;
export const IFLA_BRPORT = { MODE: 4, ISOLATED: 33 } as const;
export const IFF = { UP: 0x1, PROMISC: 0x100 } as const;

export const IFA = { ADDRESS: 1, LOCAL: 2, FLAGS: 8 } as const;
export const IFA_F = { NODAD: 0x02, DADFAILED: 0x08, TENTATIVE: 0x40 } as const;

export const RTA = { DST: 1, OIF: 4, GATEWAY: 5, PRIORITY: 6, PREFSRC: 7, TABLE: 15 } as const;
export const RT_TABLE_MAIN = 254;
export const RTPROT_BOOT = 3;
export const RT_SCOPE = { UNIVERSE: 0, LINK: 253, NOWHERE: 255 } as const;
export const RTN_UNICAST = 1;
export const RTM_F_CLONED = 0x200;
export const RTNH_F = { ONLINK: 4, LINKDOWN: 16 } as const;
