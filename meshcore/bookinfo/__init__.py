"""BookInfo, Istio's demo application: productpage, details, reviews v1/v2/v3 and ratings."""
