// The phone payment page. In WeChat's browser (WeixinJSBridge is built in) the 微信支付 button
// opens a JSAPI order and hands its signed parameters to WeChat; elsewhere the QR code form is
// what remains. After paying, the server asks WeChat Pay about the order (not the page's word).
(function () {
  var box = document.querySelector("[data-pay]");
  var state = document.querySelector("[data-state]");
  function say(text) { if (state) { state.textContent = text; } }
  function post(url) {
    var csrf = box ? box.getAttribute("data-csrf") : "";
    return fetch(url, { method: "POST", credentials: "same-origin", headers: { "x-csrf-token": csrf } })
      .then(function (r) { return r.json(); });
  }
  function check(outTradeNo) {
    return post("/console/m/payment-orders/" + encodeURIComponent(outTradeNo) + "/check").then(function (o) {
      if (o.paid) {
        say("已支付");
        window.location.reload();  // the bill as the server now has it
      } else {
        say(o.message || "尚未收到付款，请稍后再查");
      }
      return o;
    });
  }
  document.querySelectorAll("[data-check]").forEach(function (b) {
    b.addEventListener("click", function () { check(b.getAttribute("data-check")); });
  });
  if (!box) { return; }
  var jsapi = box.querySelector("[data-jsapi]");
  function inWeChat() { return typeof window.WeixinJSBridge !== "undefined"; }
  function offer() {
    if (!inWeChat()) { return; }
    jsapi.hidden = false;
    box.querySelector("[data-native]").hidden = true;
  }
  offer();
  document.addEventListener("WeixinJSBridgeReady", offer);
  jsapi.addEventListener("click", function () {
    jsapi.disabled = true;
    say("正在发起支付…");
    post("/console/m/bookings/" + box.getAttribute("data-booking") + "/pay/jsapi").then(function (o) {
      if (!o.jsapi) {
        jsapi.disabled = false;
        say(o.message || "暂时无法发起微信支付");
        return;
      }
      window.WeixinJSBridge.invoke("getBrandWCPayRequest", o.jsapi, function (res) {
        jsapi.disabled = false;
        if (res && res.err_msg === "get_brand_wcpay_request:ok") {
          say("正在确认支付结果…");
          check(o.out_trade_no);
        } else {
          say("支付未完成");
        }
      });
    }, function () { jsapi.disabled = false; say("网络错误，请重试"); });
  });
})();
