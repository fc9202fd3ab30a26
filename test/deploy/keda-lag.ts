/**
 * The lag KEDA's NATS JetStream scaler reads (kedacore/keda pkg/scalers/nats_jetstream_scaler.go):
 * GET http://<natsServerMonitoringEndpoint>/jsz?acc=<account>&consumers=true&config=true, then in the
 * account's stream the consumer of that name: num_pending + num_ack_pending. Without the consumer, the
 * scaler answers the stream's last sequence.
 */
export const jszUrl = (endpoint: string, account: string) =>
  `http://${endpoint}/jsz?acc=${encodeURIComponent(account)}&consumers=true&config=true`;

interface Jsz {
  account_details?: {
    name: string;
    stream_detail?: {
      name: string;
      state: { last_seq: number };
      consumer_detail?: { name: string; num_pending: number; num_ack_pending: number }[];
    }[];
  }[];
}

export function kedaLag(jsz: Jsz, account: string, stream: string, consumer: string): number | undefined {
  const found = jsz.account_details?.find((a) => a.name === account)?.stream_detail?.find((s) => s.name === stream);
  if (!found) return undefined;
  const detail = found.consumer_detail?.find((c) => c.name === consumer);
  return detail ? detail.num_pending + detail.num_ack_pending : found.state.last_seq;
}

export async function readKedaLag(
  endpoint: string,
  account: string,
  stream: string,
  consumer: string,
): Promise<number> {
  const response = await fetch(jszUrl(endpoint, account), { signal: AbortSignal.timeout(5_000) });
  const lag = kedaLag((await response.json()) as Jsz, account, stream, consumer);
  if (lag === undefined) throw new Error(`no stream ${stream} in account ${account} at ${endpoint}`);
  return lag;
}
