WITH repeated AS (
  SELECT
    fingerprint,
    COUNT(*) AS row_count,
    MAX(CASE WHEN odd THEN 1 ELSE 0 END) AS odd,
    GROUPING(fingerprint) = 1 AS total
  FROM (
    SELECT
      CASE
        WHEN CASE
          WHEN (
            SUBSTRING(s25, 1, 1) <= ' '
            OR SUBSTRING(s25, 1, 1) > '~'
            OR SUBSTRING(s25, LENGTH(s25), 1) <= ' '
            OR SUBSTRING(s25, LENGTH(s25), 1) > '~'
          )
          THEN TRIM(
            s25,
            ' ' || CHR(9) || CHR(10) || CHR(13) || CHR(11) || CHR(12) || CHR(28) || CHR(29) || CHR(30) || CHR(31)
          )
          ELSE s25
        END <> ''
        THEN HASH(
          CASE
            WHEN (
              SUBSTRING(s25, 1, 1) <= ' '
              OR SUBSTRING(s25, 1, 1) > '~'
              OR SUBSTRING(s25, LENGTH(s25), 1) <= ' '
              OR SUBSTRING(s25, LENGTH(s25), 1) > '~'
            )
            THEN TRIM(
              s25,
              ' ' || CHR(9) || CHR(10) || CHR(13) || CHR(11) || CHR(12) || CHR(28) || CHR(29) || CHR(30) || CHR(31)
            )
            ELSE s25
          END
        )
        ELSE HASH(s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11, s12, s13, s14, s15, s16, s17, s18, s19, s20, s21, s22, s23, s24, s25)
      END AS fingerprint,
      (
        (
          SUBSTRING(s25, 1, 1) <= ' '
          OR SUBSTRING(s25, 1, 1) > '~'
          OR SUBSTRING(s25, LENGTH(s25), 1) <= ' '
          OR SUBSTRING(s25, LENGTH(s25), 1) > '~'
        )
        AND REGEXP_MATCHES(
          s25,
          '^[\t-\r\x1c-\x1f ]*[\x85\xa0\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]|[\x85\xa0\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}][\t-\r\x1c-\x1f ]*$'
        )
      ) AS odd
    FROM (
      SELECT
        0 AS row_no,
        COALESCE(CAST("BilledCost" AS TEXT), '') AS s0,
        COALESCE(CAST("BillingAccountId" AS TEXT), '') AS s1,
        COALESCE(CAST("BillingCurrency" AS TEXT), '') AS s2,
        COALESCE(CAST("BillingPeriodStart" AS TEXT), '') AS s3,
        COALESCE(CAST("ChargeCategory" AS TEXT), '') AS s4,
        COALESCE(CAST("ChargeClass" AS TEXT), '') AS s5,
        COALESCE(CAST("ChargeDescription" AS TEXT), '') AS s6,
        COALESCE(CAST("ChargePeriodEnd" AS TEXT), '') AS s7,
        COALESCE(CAST("ChargePeriodStart" AS TEXT), '') AS s8,
        COALESCE(CAST("CommitmentDiscountId" AS TEXT), '') AS s9,
        COALESCE(CAST("ConsumedQuantity" AS TEXT), '') AS s10,
        COALESCE(CAST("ConsumedUnit" AS TEXT), '') AS s11,
        COALESCE(CAST("InvoiceId" AS TEXT), '') AS s12,
        COALESCE(CAST("ProviderName" AS TEXT), '') AS s13,
        COALESCE(CAST("RegionId" AS TEXT), '') AS s14,
        COALESCE(CAST("ServiceCategory" AS TEXT), '') AS s15,
        COALESCE(CAST("ServiceName" AS TEXT), '') AS s16,
        COALESCE(CAST("SkuMeter" AS TEXT), '') AS s17,
        COALESCE(CAST("SubAccountId" AS TEXT), '') AS s18,
        COALESCE(CAST("Tags" AS TEXT), '') AS s19,
        COALESCE(CAST("EffectiveCost" AS TEXT), '') AS s20,
        COALESCE(CAST("ChargeFrequency" AS TEXT), '') AS s21,
        COALESCE(CAST("CommitmentDiscountStatus" AS TEXT), '') AS s22,
        COALESCE(CAST("PricingCurrency" AS TEXT), '') AS s23,
        COALESCE(CAST("SkuPriceId" AS TEXT), '') AS s24,
        COALESCE(CAST("x_LineItemId" AS TEXT), '') AS s25
      FROM billing.focus_export
    ) AS src
  )
  GROUP BY
    GROUPING SETS (
      (
        fingerprint
      ),
      ()
    )
  HAVING
    GROUPING(fingerprint) = 1
    OR (
      NOT fingerprint IS NULL
      AND (
        COUNT(*) > 1 OR MAX(CASE WHEN odd THEN 1 ELSE 0 END) = 1
      )
    )
), src AS (
  SELECT
    ROW_NUMBER() OVER () AS row_no,
    COALESCE(CAST("BilledCost" AS TEXT), '') AS s0,
    COALESCE(CAST("BillingAccountId" AS TEXT), '') AS s1,
    COALESCE(CAST("BillingCurrency" AS TEXT), '') AS s2,
    COALESCE(CAST("BillingPeriodStart" AS TEXT), '') AS s3,
    COALESCE(CAST("ChargeCategory" AS TEXT), '') AS s4,
    COALESCE(CAST("ChargeClass" AS TEXT), '') AS s5,
    COALESCE(CAST("ChargeDescription" AS TEXT), '') AS s6,
    COALESCE(CAST("ChargePeriodEnd" AS TEXT), '') AS s7,
    COALESCE(CAST("ChargePeriodStart" AS TEXT), '') AS s8,
    COALESCE(CAST("CommitmentDiscountId" AS TEXT), '') AS s9,
    COALESCE(CAST("ConsumedQuantity" AS TEXT), '') AS s10,
    COALESCE(CAST("ConsumedUnit" AS TEXT), '') AS s11,
    COALESCE(CAST("InvoiceId" AS TEXT), '') AS s12,
    COALESCE(CAST("ProviderName" AS TEXT), '') AS s13,
    COALESCE(CAST("RegionId" AS TEXT), '') AS s14,
    COALESCE(CAST("ServiceCategory" AS TEXT), '') AS s15,
    COALESCE(CAST("ServiceName" AS TEXT), '') AS s16,
    COALESCE(CAST("SkuMeter" AS TEXT), '') AS s17,
    COALESCE(CAST("SubAccountId" AS TEXT), '') AS s18,
    COALESCE(CAST("Tags" AS TEXT), '') AS s19,
    COALESCE(CAST("EffectiveCost" AS TEXT), '') AS s20,
    COALESCE(CAST("ChargeFrequency" AS TEXT), '') AS s21,
    COALESCE(CAST("CommitmentDiscountStatus" AS TEXT), '') AS s22,
    COALESCE(CAST("PricingCurrency" AS TEXT), '') AS s23,
    COALESCE(CAST("SkuPriceId" AS TEXT), '') AS s24,
    COALESCE(CAST("x_LineItemId" AS TEXT), '') AS s25
  FROM billing.focus_export
), rows AS (
  SELECT
    src.*,
    CASE
      WHEN (
        s20 IN ('', 'null', 'NULL', 'Null') AND s20 <> s0
      ) OR s20 = s0
      THEN s0
      ELSE s20
    END AS effective_text,
    (
      s20 IN ('', 'null', 'NULL', 'Null') AND s20 <> s0
    ) AS effective_missing,
    (
      NOT s10 IN ('', 'null', 'NULL', 'Null')
    ) AS has_quantity,
    s10 AS quantity_text,
    (
      (
        SUBSTRING(s25, 1, 1) <= ' '
        OR SUBSTRING(s25, 1, 1) > '~'
        OR SUBSTRING(s25, LENGTH(s25), 1) <= ' '
        OR SUBSTRING(s25, LENGTH(s25), 1) > '~'
      )
      AND REGEXP_MATCHES(
        s25,
        '^[\t-\r\x1c-\x1f ]*[\x85\xa0\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}]|[\x85\xa0\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}][\t-\r\x1c-\x1f ]*$'
      )
    ) AS odd_id,
    (
      s4 IN ('Usage', 'Credit', 'Tax', 'Adjustment')
      AND REGEXP_MATCHES(
        s8,
        '^[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?Z$'
      )
      AND REGEXP_MATCHES(
        s7,
        '^[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?Z$'
      )
      AND LENGTH(s7) = LENGTH(s8)
      AND s7 > s8
      AND (
        SUBSTRING(s8, 1, 10) = SUBSTRING(s7, 1, 10)
        OR (
          TRY_CAST(CAST(SUBSTRING(s7, 1, 10) AS TEXT) AS DATE) = TRY_CAST(CAST(SUBSTRING(s8, 1, 10) AS TEXT) AS DATE) + INTERVAL '1' DAY
          AND SUBSTRING(s7, 12) <= SUBSTRING(s8, 12)
        )
      )
    ) AS within_day
  FROM src
), checked AS (
  SELECT
    rows.*,
    s15 AS g0,
    s4 AS g1,
    s2 AS g2,
    s1 AS g3,
    s13 AS g4,
    s5 AS g5,
    s3 AS g6,
    s19 AS g7,
    s12 AS g8,
    s9 AS g9,
    s21 AS g10,
    s24 AS g11,
    s23 AS g12,
    s18 AS g13,
    s16 AS g14,
    s17 AS g15,
    s14 AS g16,
    s6 AS g17,
    s11 AS g18,
    s9 AS g19,
    s22 AS g20,
    CASE WHEN within_day THEN SUBSTRING(s8, 1, 10) ELSE '' END AS p_day,
    CASE WHEN within_day THEN '' ELSE s8 END AS p_start,
    CASE WHEN within_day THEN '' ELSE s7 END AS p_end,
    REGEXP_MATCHES(s0, '^-?[0-9]{1,18}(\.[0-9]{1,10})?$')
    AND (
      (
        s20 IN ('', 'null', 'NULL', 'Null') AND s20 <> s0
      )
      OR s20 = s0
      OR REGEXP_MATCHES(s20, '^-?[0-9]{1,18}(\.[0-9]{1,10})?$')
    )
    AND (
      NOT has_quantity
      OR (
        REGEXP_MATCHES(quantity_text, '^-?[0-9]{1,18}(\.[0-9]{1,10})?$')
        AND NOT (
          SUBSTRING(quantity_text, 1, 1) = '-'
          AND REGEXP_MATCHES(quantity_text, '^-[0.]*$')
        )
      )
    )
    AND NOT COALESCE(
      CASE
        WHEN CASE
          WHEN (
            SUBSTRING(s25, 1, 1) <= ' '
            OR SUBSTRING(s25, 1, 1) > '~'
            OR SUBSTRING(s25, LENGTH(s25), 1) <= ' '
            OR SUBSTRING(s25, LENGTH(s25), 1) > '~'
          )
          THEN TRIM(
            s25,
            ' ' || CHR(9) || CHR(10) || CHR(13) || CHR(11) || CHR(12) || CHR(28) || CHR(29) || CHR(30) || CHR(31)
          )
          ELSE s25
        END <> ''
        THEN HASH(
          CASE
            WHEN (
              SUBSTRING(s25, 1, 1) <= ' '
              OR SUBSTRING(s25, 1, 1) > '~'
              OR SUBSTRING(s25, LENGTH(s25), 1) <= ' '
              OR SUBSTRING(s25, LENGTH(s25), 1) > '~'
            )
            THEN TRIM(
              s25,
              ' ' || CHR(9) || CHR(10) || CHR(13) || CHR(11) || CHR(12) || CHR(28) || CHR(29) || CHR(30) || CHR(31)
            )
            ELSE s25
          END
        )
        ELSE HASH(s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11, s12, s13, s14, s15, s16, s17, s18, s19, s20, s21, s22, s23, s24, s25)
      END IN (
        SELECT
          fingerprint
        FROM repeated
        WHERE
          NOT fingerprint IS NULL
      ),
      FALSE
    ) AS clean
  FROM rows
)
SELECT
  g0,
  g1,
  g2,
  g3,
  g4,
  g5,
  g6,
  g7,
  g8,
  g9,
  g10,
  g11,
  g12,
  g13,
  g14,
  g15,
  g16,
  g17,
  g18,
  g19,
  g20,
  p_day,
  p_start,
  p_end,
  effective_missing,
  clean,
  SUM(CASE WHEN clean THEN CAST(s0 AS DECIMAL(38, 10)) END) AS billed,
  SUM(
    CASE
      WHEN clean
      AND (
        s0 LIKE '-%'
        AND NOT (
          SUBSTRING(s0, 1, 1) = '-' AND REGEXP_MATCHES(s0, '^-[0.]*$')
        )
      )
      THEN CAST(s0 AS DECIMAL(38, 10))
    END
  ) AS billed_negative,
  SUM(CASE WHEN clean THEN CAST(effective_text AS DECIMAL(38, 10)) END) AS effective,
  SUM(CASE WHEN clean AND has_quantity THEN CAST(quantity_text AS DECIMAL(38, 10)) END) AS quantity,
  COUNT(CASE WHEN has_quantity THEN 1 END) AS quantity_rows,
  COUNT(*) AS row_count,
  MAX(CASE WHEN STRPOS(s0, '.') > 0 THEN LENGTH(s0) - STRPOS(s0, '.') ELSE 0 END) AS billed_scale,
  MAX(
    CASE
      WHEN (
        s0 LIKE '-%'
        AND NOT (
          SUBSTRING(s0, 1, 1) = '-' AND REGEXP_MATCHES(s0, '^-[0.]*$')
        )
      )
      THEN CASE WHEN STRPOS(s0, '.') > 0 THEN LENGTH(s0) - STRPOS(s0, '.') ELSE 0 END
    END
  ) AS negative_scale,
  MAX(
    CASE
      WHEN STRPOS(effective_text, '.') > 0
      THEN LENGTH(effective_text) - STRPOS(effective_text, '.')
      ELSE 0
    END
  ) AS effective_scale,
  MAX(
    CASE
      WHEN has_quantity
      THEN CASE
        WHEN STRPOS(quantity_text, '.') > 0
        THEN LENGTH(quantity_text) - STRPOS(quantity_text, '.')
        ELSE 0
      END
    END
  ) AS quantity_scale,
  MIN(row_no) AS first_row,
  MAX(CASE WHEN odd_id THEN 1 ELSE 0 END) AS odd_ids,
  MIN(
    CASE
      WHEN (
        SUBSTRING(s0, 1, 1) = '-' AND REGEXP_MATCHES(s0, '^-[0.]*$')
      )
      THEN 1
      ELSE 0
    END
  ) AS billed_negative_zero,
  MIN(
    CASE
      WHEN (
        SUBSTRING(effective_text, 1, 1) = '-'
        AND REGEXP_MATCHES(effective_text, '^-[0.]*$')
      )
      THEN 1
      ELSE 0
    END
  ) AS effective_negative_zero
FROM checked
GROUP BY
  g0,
  g1,
  g2,
  g3,
  g4,
  g5,
  g6,
  g7,
  g8,
  g9,
  g10,
  g11,
  g12,
  g13,
  g14,
  g15,
  g16,
  g17,
  g18,
  g19,
  g20,
  p_day,
  p_start,
  p_end,
  effective_missing,
  clean
ORDER BY
  first_row
