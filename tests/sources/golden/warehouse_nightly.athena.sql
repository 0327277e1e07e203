WITH src AS (
  SELECT
    ROW_NUMBER() OVER (ORDER BY "ChargePeriodStart", "BilledCost") AS row_no,
    COALESCE(CAST("BilledCost" AS VARCHAR), '') AS s0,
    COALESCE(CAST("EffectiveCost" AS VARCHAR), '') AS s1,
    COALESCE(CAST("BillingAccountId" AS VARCHAR), '') AS s2,
    COALESCE(CAST("BillingCurrency" AS VARCHAR), '') AS s3,
    COALESCE(CAST("BillingPeriodStart" AS VARCHAR), '') AS s4,
    COALESCE(CAST("ChargeCategory" AS VARCHAR), '') AS s5,
    COALESCE(CAST("ChargeClass" AS VARCHAR), '') AS s6,
    COALESCE(CAST("ChargeDescription" AS VARCHAR), '') AS s7,
    COALESCE(CAST("ChargeFrequency" AS VARCHAR), '') AS s8,
    COALESCE(CAST("ChargePeriodStart" AS VARCHAR), '') AS s9,
    COALESCE(CAST("ChargePeriodEnd" AS VARCHAR), '') AS s10,
    COALESCE(CAST("CommitmentDiscountId" AS VARCHAR), '') AS s11,
    COALESCE(CAST("CommitmentDiscountStatus" AS VARCHAR), '') AS s12,
    COALESCE(CAST("ConsumedQuantity" AS VARCHAR), '') AS s13,
    COALESCE(CAST("ConsumedUnit" AS VARCHAR), '') AS s14,
    COALESCE(CAST("ProviderName" AS VARCHAR), '') AS s15,
    COALESCE(CAST("RegionId" AS VARCHAR), '') AS s16,
    COALESCE(CAST("ServiceCategory" AS VARCHAR), '') AS s17,
    COALESCE(CAST("ServiceName" AS VARCHAR), '') AS s18,
    COALESCE(CAST("SkuId" AS VARCHAR), '') AS s19,
    COALESCE(CAST("SkuPriceId" AS VARCHAR), '') AS s20,
    COALESCE(CAST("SubAccountId" AS VARCHAR), '') AS s21,
    COALESCE(CAST("ServiceSubcategory" AS VARCHAR), '') AS s22,
    COALESCE(CAST("InvoiceId" AS VARCHAR), '') AS s23,
    COALESCE(CAST("PricingCurrency" AS VARCHAR), '') AS s24,
    COALESCE(CAST("SkuMeter" AS VARCHAR), '') AS s25
  FROM (
    SELECT
      BilledCost AS "BilledCost",
      EffectiveCost AS "EffectiveCost",
      BillingAccountId AS "BillingAccountId",
      BillingCurrency AS "BillingCurrency",
      DATE_FORMAT(BillingPeriodStart, '%Y-%m-%dT%H:%i:%sZ') AS "BillingPeriodStart",
      ChargeCategory AS "ChargeCategory",
      ChargeClass AS "ChargeClass",
      ChargeDescription AS "ChargeDescription",
      ChargeFrequency AS "ChargeFrequency",
      DATE_FORMAT(ChargePeriodStart, '%Y-%m-%dT%H:%i:%sZ') AS "ChargePeriodStart",
      DATE_FORMAT(ChargePeriodEnd, '%Y-%m-%dT%H:%i:%sZ') AS "ChargePeriodEnd",
      CommitmentDiscountId AS "CommitmentDiscountId",
      CommitmentDiscountStatus AS "CommitmentDiscountStatus",
      ConsumedQuantity AS "ConsumedQuantity",
      ConsumedUnit AS "ConsumedUnit",
      ProviderName AS "ProviderName",
      RegionId AS "RegionId",
      ServiceCategory AS "ServiceCategory",
      ServiceName AS "ServiceName",
      SkuId AS "SkuId",
      SkuPriceId AS "SkuPriceId",
      SubAccountId AS "SubAccountId",
      ServiceSubcategory AS "ServiceSubcategory",
      InvoiceId AS "InvoiceId",
      PricingCurrency AS "PricingCurrency",
      SkuMeter AS "SkuMeter"
    FROM billing.focus_export
    WHERE
      ChargePeriodStart >= CAST('2026-11-02 00:00:00' AS TIMESTAMP)
      AND ChargePeriodStart < CAST('2026-11-05 00:00:00' AS TIMESTAMP)
      AND BillingAccountId = '123456789012'
      AND billing_period IN ('2026-11')
  ) AS window_rows
), rows AS (
  SELECT
    src.*,
    CASE
      WHEN (
        s1 IN ('', 'null', 'NULL', 'Null') AND s1 <> s0
      ) OR s1 = s0
      THEN s0
      ELSE s1
    END AS effective_text,
    (
      s1 IN ('', 'null', 'NULL', 'Null') AND s1 <> s0
    ) AS effective_missing,
    (
      NOT s13 IN ('', 'null', 'NULL', 'Null')
    ) AS has_quantity,
    s13 AS quantity_text,
    FALSE AS odd_id,
    '' AS line_id,
    LOWER(
      TO_HEX(
        MD5(
          TO_UTF8(
            CASE
              WHEN CHR(  31) IS NULL
              OR s0 IS NULL
              OR s1 IS NULL
              OR s2 IS NULL
              OR s3 IS NULL
              OR s4 IS NULL
              OR s5 IS NULL
              OR s6 IS NULL
              OR s7 IS NULL
              OR s8 IS NULL
              OR s9 IS NULL
              OR s10 IS NULL
              OR s11 IS NULL
              OR s12 IS NULL
              OR s13 IS NULL
              OR s14 IS NULL
              OR s15 IS NULL
              OR s16 IS NULL
              OR s17 IS NULL
              OR s18 IS NULL
              OR s19 IS NULL
              OR s20 IS NULL
              OR s21 IS NULL
              OR s22 IS NULL
              OR s23 IS NULL
              OR s24 IS NULL
              OR s25 IS NULL
              THEN NULL
              ELSE CONCAT_WS(
                CHR(  31),
                CAST(s0 AS VARCHAR),
                CAST(s1 AS VARCHAR),
                CAST(s2 AS VARCHAR),
                CAST(s3 AS VARCHAR),
                CAST(s4 AS VARCHAR),
                CAST(s5 AS VARCHAR),
                CAST(s6 AS VARCHAR),
                CAST(s7 AS VARCHAR),
                CAST(s8 AS VARCHAR),
                CAST(s9 AS VARCHAR),
                CAST(s10 AS VARCHAR),
                CAST(s11 AS VARCHAR),
                CAST(s12 AS VARCHAR),
                CAST(s13 AS VARCHAR),
                CAST(s14 AS VARCHAR),
                CAST(s15 AS VARCHAR),
                CAST(s16 AS VARCHAR),
                CAST(s17 AS VARCHAR),
                CAST(s18 AS VARCHAR),
                CAST(s19 AS VARCHAR),
                CAST(s20 AS VARCHAR),
                CAST(s21 AS VARCHAR),
                CAST(s22 AS VARCHAR),
                CAST(s23 AS VARCHAR),
                CAST(s24 AS VARCHAR),
                CAST(s25 AS VARCHAR)
              )
            END
          )
        )
      )
    ) AS fingerprint,
    (
      s5 IN ('Usage', 'Credit', 'Tax', 'Adjustment')
      AND REGEXP_LIKE(s9, '^[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]Z$')
      AND REGEXP_LIKE(s10, '^[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]Z$')
      AND SUBSTR(s9, 1, 10) = SUBSTR(s10, 1, 10)
      AND s10 > s9
    ) AS within_day
  FROM src
), repeated_rows AS (
  SELECT
    fingerprint
  FROM rows
  GROUP BY
    fingerprint
  HAVING
    COUNT(*) > 1
), checked AS (
  SELECT
    rows.*,
    s17 AS g0,
    s5 AS g1,
    s3 AS g2,
    s2 AS g3,
    s15 AS g4,
    s6 AS g5,
    s4 AS g6,
    s23 AS g7,
    s11 AS g8,
    s8 AS g9,
    s20 AS g10,
    s24 AS g11,
    s21 AS g12,
    s18 AS g13,
    s22 AS g14,
    s25 AS g15,
    s19 AS g16,
    s16 AS g17,
    s7 AS g18,
    s14 AS g19,
    s11 AS g20,
    s12 AS g21,
    CASE WHEN within_day THEN SUBSTR(s9, 1, 10) ELSE '' END AS p_day,
    CASE WHEN within_day THEN '' ELSE s9 END AS p_start,
    CASE WHEN within_day THEN '' ELSE s10 END AS p_end,
    (
      REGEXP_LIKE(s0, '^-?[0-9]{1,18}(\.[0-9]{1,10})?$')
      AND NOT REGEXP_LIKE(s0, '^-[0.]*$')
    )
    AND (
      (
        s1 IN ('', 'null', 'NULL', 'Null') AND s1 <> s0
      )
      OR (
        REGEXP_LIKE(effective_text, '^-?[0-9]{1,18}(\.[0-9]{1,10})?$')
        AND NOT REGEXP_LIKE(effective_text, '^-[0.]*$')
      )
    )
    AND (
      NOT has_quantity
      OR (
        REGEXP_LIKE(quantity_text, '^-?[0-9]{1,18}(\.[0-9]{1,10})?$')
        AND NOT REGEXP_LIKE(quantity_text, '^-[0.]*$')
      )
    )
    AND NOT (
      (
        line_id = '' AND fingerprint IN (
          SELECT
            fingerprint
          FROM repeated_rows
        )
      )
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
  g21,
  p_day,
  p_start,
  p_end,
  effective_missing,
  clean,
  SUM(CASE WHEN clean THEN CAST(s0 AS DECIMAL(38, 10)) END) AS billed,
  SUM(CASE WHEN clean AND s0 LIKE '-%' THEN CAST(s0 AS DECIMAL(38, 10)) END) AS billed_negative,
  SUM(CASE WHEN clean THEN CAST(effective_text AS DECIMAL(38, 10)) END) AS effective,
  SUM(CASE WHEN clean AND has_quantity THEN CAST(quantity_text AS DECIMAL(38, 10)) END) AS quantity,
  COUNT(CASE WHEN has_quantity THEN 1 END) AS quantity_rows,
  COUNT(*) AS row_count,
  MAX(CASE WHEN STRPOS(s0, '.') > 0 THEN LENGTH(s0) - STRPOS(s0, '.') ELSE 0 END) AS billed_scale,
  MAX(
    CASE
      WHEN s0 LIKE '-%'
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
  MAX(CASE WHEN odd_id THEN 1 ELSE 0 END) AS odd_ids
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
  g21,
  p_day,
  p_start,
  p_end,
  effective_missing,
  clean
ORDER BY
  first_row
