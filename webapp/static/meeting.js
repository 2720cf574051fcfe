// The meeting page's print button (the CSP forbids inline scripts).
document.querySelectorAll(".print-page").forEach((button) => button.addEventListener("click", () => window.print()));
