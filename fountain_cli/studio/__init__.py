"""`fountain studio`: a local web page to design a service's schema over the scaffold pipeline."""
