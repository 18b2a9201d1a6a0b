// Realistic SRX syslog lines for the demo, the `send` command, tests and benchmarks. They
// follow the iked IKE_VPN_UP/DOWN_ALARM_USER template of the SRX samples in test/fixtures
// (srx-vpn.log) and the RT_FLOW noise that makes up most of a firewall's syslog.

export interface VpnLineSpec {
  kind: 'up' | 'down';
  user: string;
  ip: string;
  host?: string;
  vpn?: string;
  gateway?: string;
  peerIp?: string;
  tunnelId?: number;
  reason?: string;
  /** Syslog timestamp text; defaults to a fixed BSD time (the bridge uses its own receive time). */
  time?: string;
}

function tsRange(ip: string): string {
  return ip.includes(':') ? `ipv6(0,0-65535,${ip}-${ip})` : `ipv4(0,0-65535,${ip}-${ip})`;
}

/** One iked IKE_VPN_UP/DOWN_ALARM_USER line in BSD format with a <PRI>, no trailing LF. */
export function vpnLine(s: VpnLineSpec): string {
  const vpn = s.vpn ?? 'ra-vpn';
  const gw = s.gateway ?? 'ra-gw';
  const peer = s.peerIp ?? '198.51.100.77';
  const tag = s.kind === 'up' ? 'IKE_VPN_UP_ALARM_USER' : 'IKE_VPN_DOWN_ALARM_USER';
  const tail = s.kind === 'up' ? ', Service Offload: No' : `, Reason: ${s.reason ?? 'Peer sent delete'}`;
  return (
    `<30>${s.time ?? 'Mar  3 14:06:10'} ${s.host ?? 'srx1600-edge'} iked[20431]: ${tag}: VPN ${vpn} from ${peer} ` +
    `is ${s.kind}. Local-ip: 203.0.113.20, gateway name: ${gw}, vpn name: ${vpn}, tunnel-id: ${s.tunnelId ?? 500112}, ` +
    `tunnel type: regular-tunnel, local tunnel-if: st0.0, remote tunnel-ip: ${peer}, Local IKE-ID: vpn.example.com, ` +
    `Remote IKE-ID: ra@example.com, AAA username: ${s.user}, VR id: root, Traffic-selector: ts-any, ` +
    `Traffic-selector local ID: ipv4(0,0-65535,0.0.0.0-255.255.255.255) , Traffic-selector remote ID: ${tsRange(s.ip)} , ` +
    `SA Type: dynamic${tail}`
  );
}

/** A ~500-byte RT_FLOW_SESSION_CREATE line (structured-data, like most SRX traffic logs). */
export function flowLine(i: number): string {
  const a = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
  return (
    `<14>1 2026-03-03T14:06:10.${String(i % 1000).padStart(3, '0')}+01:00 srx1600-edge RT_FLOW - RT_FLOW_SESSION_CREATE ` +
    `[junos@2636.1.1.1.2.129 source-address="${a}" source-port="${40000 + (i % 20000)}" destination-address="203.0.113.${i % 250}" ` +
    `destination-port="443" connection-tag="0" service-name="junos-https" nat-source-address="198.51.100.2" ` +
    `nat-source-port="${20000 + (i % 30000)}" nat-destination-address="203.0.113.${i % 250}" nat-destination-port="443" ` +
    `nat-connection-tag="0" src-nat-rule-type="source rule" src-nat-rule-name="r1" dst-nat-rule-type="N/A" ` +
    `dst-nat-rule-name="N/A" protocol-id="6" policy-name="allow-web" source-zone-name="trust" destination-zone-name="untrust" ` +
    `session-id-32="${100000 + i}" username="N/A" roles="N/A" packet-incoming-interface="ge-0/0/1.0" application="UNKNOWN" ` +
    `nested-application="UNKNOWN" encrypted="UNKNOWN"] session created`
  );
}
