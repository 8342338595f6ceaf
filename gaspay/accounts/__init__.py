"""Customer accounts: login, logout, password reset, "Mis avisos de cobro", "Mis pagos"."""
