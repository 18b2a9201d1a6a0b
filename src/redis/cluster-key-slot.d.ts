// Types for cluster-key-slot (the CRC16 slot function ioredis itself uses; it ships none).
declare module 'cluster-key-slot' {
  /** The Redis Cluster slot (0–16383) of a key, hash tags honoured. */
  export default function calculateSlot(key: string): number;
}
