import client from "prom-client";

/**
 * The process's Prometheus registry. Parts create their metrics here at import time
 * (through the helpers below) so /metrics lists every series from the first scrape.
 */
export const registry = new client.Registry();
client.collectDefaultMetrics({ register: registry, prefix: "kbs_process_" });

export function counter(name: string, help: string, labelNames: string[] = []) {
  return (registry.getSingleMetric(name) as client.Counter<string> | undefined) ??
    new client.Counter({ name, help, labelNames, registers: [registry] });
}

export function gauge(name: string, help: string, labelNames: string[] = []) {
  return (registry.getSingleMetric(name) as client.Gauge<string> | undefined) ??
    new client.Gauge({ name, help, labelNames, registers: [registry] });
}

export function histogram(name: string, help: string, labelNames: string[] = [], buckets?: number[]) {
  return (registry.getSingleMetric(name) as client.Histogram<string> | undefined) ??
    new client.Histogram({ name, help, labelNames, buckets, registers: [registry] });
}

export const httpRequests = counter("kbs_http_requests_total", "HTTP requests by route and status", ["route", "status"]);
