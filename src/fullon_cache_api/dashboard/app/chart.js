// The candlestick chart: TradingView's lightweight-charts, fed from the ohlcv subscription
// (bars as panels.js's toBar makes them: time in UTC seconds, open, high, low, close, volume).

import { CandlestickSeries, ColorType, HistogramSeries, createChart } from "lightweight-charts";
import { priceDigits } from "./format.js";

const UP = "#26a69a";
const DOWN = "#ef5350";

function complete(bar) {
  return [bar.open, bar.high, bar.low, bar.close].every(
    (v) => typeof v === "number" && Number.isFinite(v),
  ) && Number.isFinite(bar.time);
}

export class CandleChart {
  constructor(container) {
    this.chart = createChart(container, {
      autoSize: true,
      layout: {
        background: { type: ColorType.Solid, color: "transparent" },
        textColor: "#9aa7b4",
        fontFamily: "system-ui, -apple-system, Segoe UI, Roboto, sans-serif",
        // The logo injects a <style> element, which the page's CSP refuses; the page's
        // footer carries the attribution notice and the link to TradingView instead.
        attributionLogo: false,
      },
      grid: {
        vertLines: { color: "rgba(154, 167, 180, 0.08)" },
        horzLines: { color: "rgba(154, 167, 180, 0.08)" },
      },
      rightPriceScale: { borderColor: "rgba(154, 167, 180, 0.25)" },
      timeScale: {
        borderColor: "rgba(154, 167, 180, 0.25)",
        timeVisible: true,
        secondsVisible: false,
        rightOffset: 4,
      },
      crosshair: { mode: 0 },
    });
    this.candles = this.chart.addSeries(CandlestickSeries, {
      upColor: UP,
      downColor: DOWN,
      borderVisible: false,
      wickUpColor: UP,
      wickDownColor: DOWN,
    });
    this.volume = this.chart.addSeries(HistogramSeries, {
      priceFormat: { type: "volume" },
      priceScaleId: "",
      lastValueVisible: false,
      priceLineVisible: false,
    });
    this.volume.priceScale().applyOptions({ scaleMargins: { top: 0.82, bottom: 0 } });
    this.lastTime = null;
    this.digits = null;
  }

  volumeBar(bar) {
    return {
      time: bar.time,
      value: Number.isFinite(bar.volume) ? bar.volume : 0,
      color: bar.close >= bar.open ? "rgba(38, 166, 154, 0.35)" : "rgba(239, 83, 80, 0.35)",
    };
  }

  precision(bar) {
    const digits = priceDigits(bar.close);
    if (digits !== this.digits) {
      this.digits = digits;
      this.candles.applyOptions({
        priceFormat: { type: "price", precision: digits, minMove: 10 ** -digits },
      });
    }
  }

  /** Replace every bar (sorted by time). */
  setBars(bars) {
    const usable = bars.filter(complete);
    this.candles.setData(usable);
    this.volume.setData(usable.map((bar) => this.volumeBar(bar)));
    this.lastTime = usable.length ? usable[usable.length - 1].time : null;
    if (usable.length) this.precision(usable[usable.length - 1]);
  }

  /** Update the forming bar, or append a newer one. False: the bar is older (use setBars). */
  update(bar) {
    if (!complete(bar)) return true;
    if (this.lastTime !== null && bar.time < this.lastTime) return false;
    this.candles.update(bar);
    this.volume.update(this.volumeBar(bar));
    this.lastTime = bar.time;
    this.precision(bar);
    return true;
  }

  onCrosshair(callback) {
    this.chart.subscribeCrosshairMove((param) => {
      const bar = param && param.time !== undefined ? param.seriesData.get(this.candles) : null;
      callback(bar || null);
    });
  }

  dispose() {
    this.chart.remove();
  }
}
